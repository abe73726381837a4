"""Plain sentences of disclosure, shared by the safety check (its fuzzy prototypes), the learned
and semantic checks (as examples), and restricted recognisers (so a language model built from
the library never makes a disclosure of danger harder to hear than a request for a tip)."""

from __future__ import annotations

# Fuzzy prototypes: short, distinctive crisis sentences. A run of words in the transcript that
# sounds like one of these, word for word ("he hid me" for "he hit me"), counts as a disclosure
# even when the exact rules missed it because the recogniser swapped a sound. Words are compared
# by sound (intents/phonetics.py): "she shuts me out" must not pass for "she hits me".
PROTOTYPES = tuple(p.split() for p in (
    "he hit me", "she hit me", "he hits me", "she hits me", "he beat me", "he beats me",
    "he punched me", "she punched me", "he slapped me", "she slapped me", "he kicked me",
    "he pushed me", "she pushed me", "he shoved me", "she shoved me", "he choked me",
    "she choked me", "he strangled me", "hands around my neck", "threatened to kill me",
    "going to kill me", "said he would kill me", "said she would kill me", "kill myself",
    "hurt myself", "cutting myself", "want to die", "end my life", "end it all",
    "do not want to live", "suicide", "raped me", "forced me to have sex", "locked me in",
    "will not let me leave", "will not let me see", "scared he will hurt me",
    "afraid he will hurt me", "hurt the kids",
))
# Sentences a restricted recogniser must be able to hear (see intents/grammar.py), beyond the
# prototypes: the ways people disclose danger, in plain words.
RECOGNITION_PHRASES = (
    *(" ".join(p) for p in PROTOTYPES),
    "he hurts me", "she hurts me", "my partner hurts me", "he threw something at me",
    "he grabbed me by the throat", "he put his hands on my neck", "i can not breathe",
    "he threatened me", "she threatened me", "he has a gun", "he has a knife",
    "he will not let me leave the house", "she will not let me see my friends",
    "he took my phone", "he took my keys", "i am locked in", "i am trapped",
    "he forces me", "he made me have sex", "i said no", "he raped me",
    "i want to kill myself", "i do not want to be here anymore", "i want to end it",
    "i have been cutting myself", "i am thinking about suicide", "i wish i was dead",
    "everyone would be better off without me", "i am scared of him", "i am afraid of her",
    "i am not safe at home", "i am afraid to go home", "he is going to hurt me",
    "she is going to hurt me", "he said he would kill me", "help me i am in danger",
)

def crisis_corpus() -> list[str]:
    """Many plain ways of disclosing danger, built from the same word lists the rules use, so a
    recogniser with a restricted language model has heard these word sequences before."""
    people = ("he", "she", "my partner", "my husband", "my wife", "my boyfriend",
              "my girlfriend", "my ex")
    past = ("hit", "punched", "slapped", "kicked", "shoved", "pushed", "choked", "strangled",
            "grabbed", "pinned", "burned", "beat", "stabbed", "threatened", "raped", "bit",
            "attacked", "hurt", "scratched", "dragged", "smothered", "threw something at")
    present = ("hits", "punches", "slaps", "kicks", "shoves", "pushes", "chokes", "hurts",
               "threatens", "beats", "grabs", "forces")
    sentences = list(RECOGNITION_PHRASES)
    for person in people:
        sentences += [f"{person} {verb} me" for verb in past]
        sentences += [f"{person} {verb} me again" for verb in past[:8]]
        sentences += [f"{person} {verb} me when" for verb in present]
        sentences += [
            f"{person} said {'he' if person != 'she' else 'she'} would kill me",
            f"{person} threatened to kill me", f"{person} threatened to hurt the kids",
            f"{person} has a gun", f"{person} has a knife", f"i am scared of {person}",
            f"{person} will not let me leave", f"{person} will not let me see my family",
            f"{person} locked me in the bedroom", f"{person} took my phone and my keys",
            f"{person} forced me to have sex", f"{person} makes me have sex when i say no",
            f"{person} put hands around my neck", f"{person} is going to hurt me",
        ]
    sentences += [
        "i want to die", "i want to end my life", "i want to end it all", "i am going to kill "
        "myself", "i have been cutting myself", "i hurt myself on purpose", "i do not want to "
        "live anymore", "i do not want to be alive", "i do not see the point in living",
        "everyone would be better off without me", "i wish i was dead", "i wish i was never born",
        "i am thinking about suicide", "i have thoughts of killing myself", "i took all my pills",
        "i am going to take all my pills", "i am afraid to go home", "i am not safe at home",
        "i fear for my life", "he is coming after me", "i am hiding from him",
        "i am hiding from her", "i can not breathe", "he squeezed my throat",
        "she squeezed my neck", "i blacked out", "i have bruises", "i am bleeding",
    ]
    return list(dict.fromkeys(sentences))


