"""The conversation: what to say back to each utterance, given what has been said before.

The coach holds the little state a conversation needs (the current topic and how far into it we
are, the last reply for "repeat", a question waiting for its answer, how many times in a row we
did not understand) and turns each understood `Intent` into a `Reply`, optionally carrying an
`Action` for the loop to run (a breathing exercise, a timer, ending the session).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from intents.catalog import CONTROL, CRISIS, NONE, TIPS
from intents.library import Library, display_text, spoken_text
from intents.matcher import Intent, IntentMatcher
from intents.normalize import says_any
from intents.safety import CONTROLLING
from intents.slots import breathing_pattern

log = logging.getLogger(__name__)

RATE_STEP = 1.15  # one "slower" or "faster" changes the speaking rate by this factor
SHORT_ANSWER_WORDS = 5  # longer than this, a reply to "did you mean" is a new request
MIN_BREAK, MAX_BREAK = 10, 120  # minutes a time-out timer may run
_NEGATED = re.compile(r"\b(?:not|no|never|hardly|barely|isn't|nothing)\b")


# --- what the loop is asked to do ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartBreathing:
    pattern: str
    rounds: int | None = None


@dataclass(frozen=True, slots=True)
class StartTimer:
    minutes: int


@dataclass(frozen=True, slots=True)
class CancelTimer:
    pass


@dataclass(frozen=True, slots=True)
class ChangeRate:
    factor: float


@dataclass(frozen=True, slots=True)
class StopAll:
    """Stop speaking or the exercise under way (the person said stop)."""


@dataclass(frozen=True, slots=True)
class EndCoaching:
    """After a crisis disclosure: no exercise, no break timer calling back to "restart the
    conversation" with a partner who may be the danger."""


@dataclass(frozen=True, slots=True)
class EndConversation:
    pass


Action = (StartBreathing | StartTimer | CancelTimer | ChangeRate | StopAll | EndCoaching
          | EndConversation)


@dataclass(frozen=True, slots=True)
class Reply:
    text: str  # as printed (phone numbers plain)
    intent: Intent
    action: Action | None = None

    @property
    def spoken(self) -> str:
        return spoken_text(self.text)

    @property
    def display(self) -> str:
        return display_text(self.text)


# --- questions the coach is waiting on -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _DidYouMean:
    first: str
    second: str
    original: Intent
    retried: bool = False


@dataclass(frozen=True, slots=True)
class _TimerOffer:
    minutes: int


@dataclass(frozen=True, slots=True)
class _RestartOffer:
    pass


@dataclass(frozen=True, slots=True)
class _FeelingCheck:
    pattern: str


@dataclass(frozen=True, slots=True)
class _AnotherRound:
    pattern: str


@dataclass(frozen=True, slots=True)
class _SafetyCheck:
    original: Intent  # what the best reading asked for, answered if the answer is no
    interrupted: _Question | None = None  # our own question it may have been answering


_Question = (_DidYouMean | _TimerOffer | _RestartOffer | _FeelingCheck | _AnotherRound
             | _SafetyCheck)

DEFAULT_BREAK_MINUTES = 20
RESTART_BREATHING_ROUNDS = 6  # "a minute of breathing" in the gentle pattern


@dataclass(slots=True)
class _Topic:
    entry: str  # the intent id whose content was last said
    follow_up: int = 0  # follow-up lines already said


@dataclass(slots=True)
class ConversationState:
    topic: _Topic | None = None
    last: Reply | None = None
    pending: _Question | None = None
    misses: int = 0
    tip_cursor: int = 0
    crisis_count: int = 0
    greeted: bool = False
    history: list[str] = field(default_factory=list)  # intent ids, for tests and logs


class Coach:
    def __init__(self, library: Library, matcher: IntentMatcher | None = None,
                 region: str = "US", timer_running: Callable[[], bool] | None = None) -> None:
        """`timer_running` tells whether a break timer is set (None: this front end has
        no timers, as in `understand`)."""
        if region not in library.regions:
            from voice.errors import UsageError

            raise UsageError(f"unknown region {region!r}; choose one of "
                             f"{', '.join(sorted(library.regions))}")
        self.library = library
        self.matcher = matcher or IntentMatcher(library)
        self.region = region
        self.state = ConversationState()
        self.timer_running = timer_running or (lambda: False)
        self._handlers: dict[str, Callable[[Intent], Reply]] = {
            "help": self._help, "repeat": self._repeat, "stop": self._stop, "next": self._next,
            "slower": self._slower, "faster": self._faster, "yes": self._yes, "no": self._no,
            "goodbye": self._goodbye, "tips": self._tips, "calm_down": self._calm_down,
            "time_out": self._time_out,
        }
        self._sequences = {
            "causes": [e.id for e in library.topic("causes")],
            "impacts": [e.id for e in library.topic("impacts")],
            "tips": [t for t in TIPS if t in library.intents],
        }

    # -- entry points --------------------------------------------------------------------------

    def greet(self) -> str:
        """The opening line, with the one-per-session disclaimer."""
        self.state.greeted = True
        return f"{self.library.lines.greeting} {self.library.lines.disclaimer}"

    def respond(self, text: str, heard_otherwise: Sequence[str] = ()) -> Reply:
        """The reply to what was said; `heard_otherwise` are the recogniser's other readings of
        the same speech (see IntentMatcher.understand)."""
        return self.answer(self.matcher.understand(text, heard_otherwise))

    def answer(self, intent: Intent) -> Reply:
        """The reply to an understood utterance, remembered for "repeat"."""
        reply = self.reply_to(intent)
        self.state.history.append(reply.intent.id)
        if reply.intent.id != "repeat":
            self.state.last = reply
        return reply

    def reply_to(self, intent: Intent) -> Reply:
        if intent.id == CRISIS:
            return self._crisis(intent)
        pending, self.state.pending = self.state.pending, None
        if intent.safety.level == CONTROLLING:
            # Controlling behaviour is never taken as the answer to a question of ours.
            self.state.misses = 0
            return self._coercive_control(intent)
        if intent.possible_crisis is not None and not isinstance(pending, _SafetyCheck):
            return self._check_safety(intent, pending)  # before any question of ours
        if pending is not None and (resolved := self._answer(pending, intent)) is not None:
            return resolved
        if intent.id == NONE:
            return self._not_understood(intent)
        self.state.misses = 0
        if intent.ambiguous and not {intent.id, intent.alternatives[0][0]} & set(CONTROL):
            return self._ask_which(intent)
        handler = self._handlers.get(intent.id, self._knowledge)
        return handler(intent)

    # -- safety --------------------------------------------------------------------------------

    def _crisis(self, intent: Intent) -> Reply:
        self.state.crisis_count += 1
        self.state.topic = None
        self.state.pending = None
        text = self.library.crisis_reply(self.region, again=self.state.crisis_count > 1)
        return Reply(text, intent, EndCoaching())

    def _check_safety(self, intent: Intent, interrupted: _Question | None) -> Reply:
        """One reading of the speech discloses danger and the best one does not. Ignoring it
        could leave someone in danger unheard; acting on it would set the coaching aside for
        what may be an ordinary request. So ask."""
        self.state.pending = _SafetyCheck(intent, interrupted)
        return Reply(self.library.lines.safety_check, intent)

    def _safety_answer(self, pending: _SafetyCheck, answer: Intent) -> Reply | None:
        if answer.id == "yes" and pending.original.possible_crisis is not None:
            return self._crisis(pending.original.possible_crisis)
        if answer.id == "no":
            self.state.pending = pending.interrupted  # what was said may answer it
            reply = self.reply_to(replace(pending.original, possible_crisis=None))
            return replace(reply, text=f"{self.library.lines.safety_check_declined} {reply.text}")
        return None  # something else: a new request (a disclosure is caught before this)

    def _coercive_control(self, intent: Intent) -> Reply:
        self.state.topic = _Topic("cause.control")
        text = f"{self.library.lines.coercive_control} {self.library.control_hotline(self.region)}"
        return Reply(text, intent)

    # -- not understood, and did-you-mean ------------------------------------------------------

    def _not_understood(self, intent: Intent) -> Reply:
        wordings = self.library.lines.not_understood
        text = wordings[min(self.state.misses, len(wordings) - 1)]
        self.state.misses += 1
        return Reply(text, intent)

    def _ask_which(self, intent: Intent) -> Reply:
        first, second = intent.id, intent.alternatives[0][0]
        self.state.pending = _DidYouMean(first, second, intent)
        text = self.library.lines.did_you_mean.format(
            first=self.library.title(first), second=self.library.title(second))
        return Reply(text, intent)

    def _answer(self, pending: _Question, answer: Intent) -> Reply | None:
        """The reply when `answer` answers our question; None to treat it as a new request."""
        if isinstance(pending, _DidYouMean):
            return self._resolve(pending, answer)
        if isinstance(pending, _SafetyCheck):
            return self._safety_answer(pending, answer)
        if isinstance(pending, _TimerOffer):
            return self._timer_answer(pending, answer)
        if isinstance(pending, _RestartOffer):
            return self._restart_answer(answer)
        if isinstance(pending, _FeelingCheck):
            return self._feeling_answer(pending, answer)
        if isinstance(pending, _AnotherRound):
            words = set(answer.text.split())
            if answer.id == "yes" or words & {"round", "again", "breathing", "breathe"}:
                return Reply(self.library.entry("calm_down").reply, answer,
                             StartBreathing(pending.pattern))
            if "break" in words or answer.id == "time_out":
                return self._time_out(Intent("time_out", answer.confidence, text=answer.text))
        return None

    def _resolve(self, pending: _DidYouMean, answer: Intent) -> Reply | None:
        """Take "yes", "no", or the name of one option as the answer to did-you-mean."""
        choice = None
        if answer.id in (pending.first, pending.second):
            choice = answer.id
        elif answer.id == "yes":
            choice = pending.first
        elif answer.id == "no" and not pending.retried:
            choice = pending.second
        else:
            choice = self._named_option(pending, answer.text)
        if choice is not None:
            chosen = Intent(choice, answer.confidence, text=answer.text)
            return self.reply_to(chosen)
        if answer.id == NONE and not pending.retried:
            self.state.pending = _DidYouMean(pending.first, pending.second, pending.original,
                                             retried=True)
            text = self.library.lines.did_you_mean_retry.format(
                first=self.library.title(pending.first),
                second=self.library.title(pending.second))
            return Reply(text, answer)
        return None  # something else entirely: answer it as a new request

    def _named_option(self, pending: _DidYouMean, said: str) -> str | None:
        """ "the first one", "the second", or words from one option's title; only in a short
        answer, so "no one listens to me" is not taken for "the first one"."""
        words = set(said.split())
        if len(words) > SHORT_ANSWER_WORDS:
            return None
        if words & {"first", "former", "one"} and "second" not in words:
            return pending.first
        if words & {"second", "latter", "other", "two"}:
            return pending.second
        titles = {option: set(self.library.title(option).split()) - {"a", "the", "of", "and"}
                  for option in (pending.first, pending.second)}
        hits = {option: len(words & t) for option, t in titles.items()}
        best = max(hits, key=hits.get)
        return best if hits[best] > 0 and list(hits.values()).count(hits[best]) == 1 else None

    # -- conversation control ------------------------------------------------------------------

    def _help(self, intent: Intent) -> Reply:
        self.state.topic = _Topic("help")
        return Reply(self.library.entry("help").reply, intent)

    def _repeat(self, intent: Intent) -> Reply:
        last = self.state.last
        if last is None:
            return Reply(self.library.entry("repeat").reply, intent)
        return Reply(last.text, intent)

    def _stop(self, intent: Intent) -> Reply:
        if {"timer", "break", "alarm"} & set(intent.text.split()):
            if self.timer_running():
                return Reply(self.library.timeout.cancelled, intent, CancelTimer())
            return Reply(self.library.timeout.no_timer, intent)
        return Reply(self.library.entry("stop").reply, intent, StopAll())

    def _slower(self, intent: Intent) -> Reply:
        return Reply(self.library.entry("slower").reply, intent, ChangeRate(1 / RATE_STEP))

    def _faster(self, intent: Intent) -> Reply:
        return Reply(self.library.entry("faster").reply, intent, ChangeRate(RATE_STEP))

    def _yes(self, intent: Intent) -> Reply:
        return Reply(self.library.entry("yes").reply, intent)

    def _no(self, intent: Intent) -> Reply:
        return Reply(self.library.entry("no").reply, intent)

    def _goodbye(self, intent: Intent) -> Reply:
        return Reply(self.library.entry("goodbye").reply, intent, EndConversation())

    def _next(self, intent: Intent) -> Reply:
        topic = self.state.topic
        if topic is None:
            return Reply(self.library.entry("next").reply, intent)
        entry = self.library.entry(topic.entry)
        wants_more = intent.slots.get("what") == "more"
        sequence = self._sequence_for(entry.id, entry.topic)
        if wants_more or not sequence:
            if topic.follow_up < len(entry.follow_up):
                line = entry.follow_up[topic.follow_up]
                topic.follow_up += 1
                return Reply(line, intent)
            return Reply(self.library.lines.end_of_topic.format(title=entry.title), intent)
        if entry.topic == "tips" or entry.id == "tips":
            return self._tip(intent, lead="")
        position = sequence.index(entry.id) if entry.id in sequence else -1
        if position + 1 >= len(sequence):
            return Reply(self.library.lines.end_of_topic.format(title=entry.title), intent)
        following = self.library.entry(sequence[position + 1])
        self.state.topic = _Topic(following.id)
        return Reply(following.reply, intent)

    def _sequence_for(self, entry_id: str, topic: str) -> list[str]:
        if entry_id == "tips":
            return self._sequences["tips"]
        return self._sequences.get(topic, [])

    # -- content -------------------------------------------------------------------------------

    def _knowledge(self, intent: Intent) -> Reply:
        entry = self.library.entry(intent.id)
        self.state.topic = _Topic(entry.id)
        return Reply(entry.reply, intent)

    def _tips(self, intent: Intent) -> Reply:
        return self._tip(intent, lead=self.library.entry("tips").reply)

    def _tip(self, intent: Intent, lead: str) -> Reply:
        """The next tip in rotation, so "give me a tip" never repeats until all were heard."""
        tips = self._sequences["tips"]
        if self.state.tip_cursor >= len(tips):
            self.state.tip_cursor = 0
            lead = f"{self.library.lines.tip_rotation_done} {lead}".strip()
        entry = self.library.entry(tips[self.state.tip_cursor])
        self.state.tip_cursor += 1
        self.state.topic = _Topic(entry.id)
        return Reply(f"{lead} {entry.reply}".strip(), intent)

    # -- the time-out and its timer ------------------------------------------------------------

    def _time_out(self, intent: Intent) -> Reply:
        self.state.topic = _Topic("time_out")
        minutes = int(intent.slots.get("minutes", DEFAULT_BREAK_MINUTES))
        self.state.pending = _TimerOffer(minutes)
        offer = self.library.timeout.offer.format(minutes=minutes)
        return Reply(f"{self.library.entry('time_out').reply} {offer}", intent)

    def _timer_answer(self, pending: _TimerOffer, answer: Intent) -> Reply | None:
        from intents.slots import minutes_in

        lines = self.library.timeout
        minutes = minutes_in(answer.text)
        if minutes is None and answer.id == "yes":
            minutes = pending.minutes
        if minutes is not None:
            if not MIN_BREAK <= minutes <= MAX_BREAK:
                self.state.pending = pending
                return Reply(lines.out_of_range, answer)
            return Reply(lines.started.format(minutes=minutes), answer, StartTimer(minutes))
        if answer.id in ("no", "stop"):
            return Reply(lines.declined, answer)
        return None

    def timer_finished(self, minutes: int, while_off: bool = False) -> str:
        """What to say when a break timer runs out; the next answer picks how to restart."""
        lines = self.library.timeout
        said = lines.missed if while_off else lines.done
        self.state.pending = _RestartOffer()
        return f"{said.format(minutes=minutes)} {lines.restart_offer}"

    def _restart_answer(self, answer: Intent) -> Reply | None:
        words = set(answer.text.split())
        if answer.id == "calm_down" or words & {"breathing", "breathe", "breath"}:
            return Reply(self.library.entry("calm_down").reply, answer,
                         StartBreathing("gentle", RESTART_BREATHING_ROUNDS))
        if answer.id in ("yes", "i_statements", "tip.communication") or words & {
                "talk", "talking", "start", "easy", "way"}:
            self.state.topic = _Topic("i_statements")
            return Reply(self.library.timeout.gentle_start, answer)
        if answer.id in ("no", "stop"):
            return Reply(self.library.timeout.declined, answer)
        return None

    # -- breathing -----------------------------------------------------------------------------

    def breathing_finished(self, pattern: str) -> None:
        """The exercise asked how they feel; the next answer is taken as the reply to that."""
        self.state.pending = _FeelingCheck(pattern)

    def _feeling_answer(self, pending: _FeelingCheck, answer: Intent) -> Reply | None:
        commands = self.library.breathing.commands
        better = says_any(answer.text, commands.better)
        # "not okay", "no better", "not feeling fine" are worse, not better.
        worse = says_any(answer.text, commands.worse) or (better and _NEGATED.search(
            answer.text) is not None)
        better = better and not worse
        if worse or (not better and answer.id == "no"):
            self.state.pending = _AnotherRound(pending.pattern)
            return Reply(self.library.breathing.lines.feeling_worse, answer)
        if better or answer.id == "yes":
            return Reply(self.library.breathing.lines.feeling_better, answer)
        return None

    def _calm_down(self, intent: Intent) -> Reply:
        entry = self.library.entry("calm_down")
        self.state.topic = _Topic("calm_down")
        pattern = intent.slots.get("pattern") or breathing_pattern(intent.text) or "gentle"
        return Reply(entry.reply, intent, StartBreathing(pattern))
