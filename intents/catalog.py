"""The public intent ids, as the shared catalog lists them (intent-catalog.md, in the `shared`
folder beside this repository). They may grow, never be renamed."""

from __future__ import annotations

NONE = "none"
CRISIS = "crisis"

SKILLS = ("calm_down", "time_out", "i_statements")
CAUSES = ("cause.infidelity", "cause.past_trauma", "cause.lies", "cause.inconsistency",
          "cause.secrecy", "cause.emotional_neglect", "cause.control",
          "cause.unresolved_conflict", "cause.attachment")
IMPACTS = ("impact.communication", "impact.distance", "impact.suspicion", "impact.jealousy",
           "impact.intimacy", "impact.conflict", "impact.anxiety", "impact.self_esteem",
           "impact.cycles", "impact.breakup")
TIPS = ("tip.communication", "tip.root_causes", "tip.transparency", "tip.expectations",
        "tip.consistency", "tip.gradual", "tip.forgiveness", "tip.secrecy", "tip.empathy",
        "tip.self_reflection")
KNOWLEDGE = ("causes", *CAUSES, "impacts", *IMPACTS, "therapy", "tips", *TIPS)
CONTROL = ("help", "repeat", "stop", "next", "slower", "faster", "yes", "no", "goodbye")
CONVERSATION = ("greeting", "thanks", "feelings")

# Every id the library must define (crisis lives in safety.toml, none is the absence of one).
LIBRARY_IDS = (*SKILLS, *KNOWLEDGE, *CONTROL, *CONVERSATION)
ALL_IDS = (CRISIS, *LIBRARY_IDS, NONE)

BREATHING_PATTERNS = ("gentle", "box", "4-7-8", "sigh", "resonance")
