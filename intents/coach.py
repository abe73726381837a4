"""The dialogue policy: what to say back to each utterance, given what has been said before.

The coach holds the little state a conversation needs (the current topic and how far into it we
are, the last reply for "repeat", a question of ours waiting for its answer, how many times in a
row we did not understand, whether a breathing exercise is running) and turns each understood
`Intent` into a `Reply`, optionally carrying an `Action` for the front end to carry out (start a
breathing exercise or change one, a timer, ending the session).

Safety comes first in every state: a disclosure is answered with the crisis reply whatever was
asked or is running, controlling behaviour is named with the hotline, and a disclosure that only
another reading of the speech holds is asked about before anything else.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from common.errors import UsageError
from common.transcript import Transcript
from intents.breathing import PACE_STEP
from intents.catalog import CONTROL, CONVERSATION, CRISIS, NONE, TIPS
from intents.exercise import Command, Finished, Pace, Pause, Resume, Stop, Switch
from intents.library import Library, display_text, spoken_text
from intents.matcher import Intent, IntentMatcher
from intents.normalize import normalize, says_any
from intents.safety import CONTROLLING
from intents.slots import MAX_BREAK, MIN_BREAK, breathing_pattern, minutes_in

log = logging.getLogger(__name__)

_PLAIN_STOPS = ("stop", "stop it", "that is enough")
RATE_STEP = 1.15  # one "slower" or "faster" changes the speaking rate by this factor
SHORT_ANSWER_WORDS = 5  # longer than this, a reply to "did you mean" is a new request
_NEGATED = re.compile(r"\b(?:not|no|never|hardly|barely|isn't|nothing)\b")
_GOOD_FEELING = re.compile(r"\b(?:better|happy|happier|hopeful|calm|calmer|relieved|proud|glad|"
                           r"good|great|lighter|peaceful|grateful|optimistic)\b")
# After a crisis answer, these keep the conversation on the person's safety; anything else is
# them moving on.
_STAYS_WITH_SAFETY = frozenset({"yes", "no", "thanks", "feelings", "greeting", "help", "stop",
                                NONE})


# --- what the front end is asked to do --------------------------------------------------------


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
class EndCoaching:
    """After a crisis disclosure: no exercise, no break timer calling back to "restart the
    conversation" with a partner who may be the danger."""


@dataclass(frozen=True, slots=True)
class EndConversation:
    pass


# During an exercise, the exercise's own commands (intents.exercise) are actions too.
Action = (StartBreathing | StartTimer | CancelTimer | ChangeRate | EndCoaching | EndConversation
          | Command)


@dataclass(frozen=True, slots=True)
class Reply:
    text: str  # as printed (phone numbers plain); "" when nothing is said (a command heard
    # during an exercise, which announces itself)
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
class _FeelingsOffer:
    """Breathing, talking it through, or a tip?"""


@dataclass(frozen=True, slots=True)
class _SafeNow:
    """Asked at the end of the crisis answer: are you somewhere safe right now?"""


@dataclass(frozen=True, slots=True)
class _SafetyQuestion:
    original: Intent  # what the best reading asked for, answered if the answer is no
    interrupted: _Question | None = None  # our own question it may have been answering


_Question = (_DidYouMean | _TimerOffer | _RestartOffer | _FeelingCheck | _AnotherRound
             | _FeelingsOffer | _SafeNow | _SafetyQuestion)

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
    question: _Question | None = None  # ours, waiting for its answer
    misses: int = 0
    tip_cursor: int = 0
    crisis_count: int = 0
    greeted: bool = False
    exercise: str | None = None  # the breathing pattern under way
    with_their_safety: bool = False  # since a crisis answer, until they move on
    cautioned: bool = False  # the breathing caution is said once a conversation
    history: list[str] = field(default_factory=list)  # intent ids, for tests and logs


class Coach:
    def __init__(self, library: Library, matcher: IntentMatcher | None = None,
                 region: str = "US", timer_running: Callable[[], bool] | None = None) -> None:
        """`timer_running` tells whether a break timer is set (None: this front end has
        no timers, as in `understand`)."""
        if region not in library.regions:
            raise UsageError(f"unknown region {region!r}; choose one of "
                             f"{', '.join(sorted(library.regions))}")
        self.library = library
        self.matcher = matcher or IntentMatcher(library)
        self.region = region
        self.state = ConversationState()
        self._timer_running = timer_running or (lambda: False)
        self._handlers: dict[str, Callable[[Intent], Reply]] = {
            "help": self._help, "repeat": self._repeat, "stop": self._stop, "next": self._next,
            "slower": self._slower, "faster": self._faster, "yes": self._yes, "no": self._no,
            "goodbye": self._goodbye, "tips": self._tips, "calm_down": self._calm_down,
            "time_out": self._time_out, "greeting": self._greeting, "thanks": self._thanks,
            "feelings": self._feelings,
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

    def understand(self, transcript: Transcript) -> Intent:
        """The safety check and the intent, over every reading the recogniser offered."""
        return self.matcher.understand(transcript.text, transcript.alternatives)

    def reply_to_text(self, text: str, other_readings: Sequence[str] = ()) -> Reply:
        """The reply to what was said; `other_readings` are the recogniser's other readings of
        the same speech (see IntentMatcher.understand)."""
        return self.reply_to(self.matcher.understand(text, other_readings))

    def reply_to(self, intent: Intent) -> Reply:
        """The reply to an understood utterance; what was said is remembered for "repeat"."""
        reply = self._choose(intent)
        if intent.cut_short:
            reply = replace(reply, text=f"{reply.text} {self.library.lines.cut_short}".strip())
        self.state.history.append(reply.intent.id)
        if reply.intent.id != "repeat" and reply.text:
            self.state.last = reply
        return reply

    def _choose(self, intent: Intent) -> Reply:
        if intent.id == CRISIS:
            return self._crisis(intent)
        question, self.state.question = self.state.question, None
        if intent.safety.level == CONTROLLING:
            # Controlling behaviour is never taken as the answer to a question of ours, and
            # it ends an exercise: it is what the person needs to talk about.
            self.state.misses = 0
            return self._coercive_control(intent)
        if intent.possible_crisis is not None and not isinstance(question, _SafetyQuestion):
            return self._ask_about_safety(intent, question)  # before any question of ours
        if question is not None and (answer := self._take_answer(question, intent)) is not None:
            return answer
        if self.state.exercise is not None:
            reply = self._during_exercise(intent)
            if isinstance(question, _SafetyQuestion) and reply.action is None:
                return replace(reply, action=Resume())  # not an answer: carry on breathing
            return reply
        if self.state.with_their_safety:
            if intent.id in _STAYS_WITH_SAFETY or intent.id == "goodbye":
                return self._still_with_their_safety(intent)
            self.state.with_their_safety = False  # they have moved on
        if intent.id == NONE:
            return self._not_understood(intent)
        self.state.misses = 0
        if intent.ambiguous and not {intent.id, intent.alternatives[0][0]} & {
                *CONTROL, *CONVERSATION}:
            return self._ask_which(intent)
        handler = self._handlers.get(intent.id, self._knowledge)
        return handler(intent)

    # -- safety --------------------------------------------------------------------------------

    def _crisis(self, intent: Intent) -> Reply:
        self.state.crisis_count += 1
        self.state.topic = None
        self.state.question = _SafeNow()
        self.state.with_their_safety = True
        text = self.library.crisis_reply(self.region, again=self.state.crisis_count > 1)
        return Reply(text, intent, EndCoaching())

    def _still_with_their_safety(self, intent: Intent) -> Reply:
        """Since the crisis answer, short of a new request: their safety stays the subject."""
        crisis = self.library.crisis
        if intent.id == "goodbye":
            farewell = self.library.crisis_line(crisis.farewell, self.region)
            return Reply(farewell, intent, EndConversation())
        if intent.id == "help":
            return Reply(self.library.crisis_reply(self.region, again=True), intent)
        self.state.question = _SafeNow()
        return Reply(crisis.check_in, intent)

    def _safe_now_answer(self, answer: Intent) -> Reply | None:
        crisis = self.library.crisis
        if answer.id == "yes":
            return Reply(crisis.safe_yes, answer)
        if answer.id == "no":
            self.state.question = _SafeNow()
            return Reply(self.library.crisis_line(crisis.safe_no, self.region), answer)
        return None

    def _ask_about_safety(self, intent: Intent, interrupted: _Question | None) -> Reply:
        """One reading of the speech discloses danger and the best one does not. Ignoring it
        could leave someone in danger unheard; acting on it would set the coaching aside for
        what may be an ordinary request. So ask (pausing an exercise meanwhile)."""
        self.state.question = _SafetyQuestion(intent, interrupted)
        pause = Pause(quietly=True) if self.state.exercise is not None else None
        misheard = intent.possible_crisis is not None and intent.possible_crisis.text != intent.text
        lines = self.library.lines
        return Reply(lines.safety_check if misheard else lines.safety_check_unsure, intent, pause)

    def _safety_answer(self, question: _SafetyQuestion, answer: Intent) -> Reply | None:
        if answer.id == "yes" and question.original.possible_crisis is not None:
            return self._crisis(question.original.possible_crisis)
        if answer.id == "no":
            self.state.question = question.interrupted  # what was said may answer it
            reply = self._choose(replace(question.original, possible_crisis=None))
            if self.state.exercise is not None and reply.action is None:
                reply = replace(reply, action=Resume())
            declined = self.library.lines.safety_check_declined
            return replace(reply, text=f"{declined} {reply.text}".strip())
        return None  # something else: a new request (a disclosure is caught before this)

    def _coercive_control(self, intent: Intent) -> Reply:
        self.state.topic = _Topic("cause.control")
        text = f"{self.library.lines.coercive_control} {self.library.control_hotline(self.region)}"
        stop = Stop("control", quietly=True) if self.state.exercise is not None else None
        return Reply(text, intent, stop)

    # -- not understood, and did-you-mean ------------------------------------------------------

    def _not_understood(self, intent: Intent) -> Reply:
        wordings = self.library.lines.not_understood
        text = wordings[min(self.state.misses, len(wordings) - 1)]
        self.state.misses += 1
        return Reply(text, intent)

    def _ask_which(self, intent: Intent) -> Reply:
        first, second = intent.id, intent.alternatives[0][0]
        self.state.question = _DidYouMean(first, second, intent)
        text = self.library.lines.did_you_mean.format(
            first=self.library.title(first), second=self.library.title(second))
        return Reply(text, intent)

    def _take_answer(self, question: _Question, answer: Intent) -> Reply | None:
        """The reply when `answer` answers our question; None to treat it as a new request."""
        if isinstance(question, _DidYouMean):
            return self._resolve(question, answer)
        if isinstance(question, _SafetyQuestion):
            return self._safety_answer(question, answer)
        if isinstance(question, _TimerOffer):
            return self._timer_answer(question, answer)
        if isinstance(question, _RestartOffer):
            return self._restart_answer(answer)
        if isinstance(question, _FeelingCheck):
            return self._feeling_answer(question, answer)
        if isinstance(question, _FeelingsOffer):
            return self._offer_answer(answer)
        if isinstance(question, _SafeNow):
            return self._safe_now_answer(answer)
        if isinstance(question, _AnotherRound):
            words = set(answer.text.split())
            if answer.id == "yes" or words & {"round", "again", "breathing", "breathe"}:
                return Reply(self.library.entry("calm_down").reply, answer,
                             StartBreathing(question.pattern))
            if "break" in words or answer.id == "time_out":
                return self._time_out(Intent("time_out", answer.confidence, text=answer.text))
        return None

    def _resolve(self, question: _DidYouMean, answer: Intent) -> Reply | None:
        """Take "yes", "no", or the name of one option as the answer to did-you-mean."""
        choice = None
        if answer.id in (question.first, question.second):
            choice = answer.id
        elif answer.id == "yes":
            choice = question.first
        elif answer.id == "no" and not question.retried:
            choice = question.second
        else:
            choice = self._named_option(question, answer.text)
        if choice is not None:
            chosen = Intent(choice, answer.confidence, text=answer.text)
            return self._choose(chosen)
        if answer.id == NONE and not question.retried:
            self.state.question = replace(question, retried=True)
            text = self.library.lines.did_you_mean_retry.format(
                first=self.library.title(question.first),
                second=self.library.title(question.second))
            return Reply(text, answer)
        return None  # something else entirely: answer it as a new request

    def _named_option(self, question: _DidYouMean, said: str) -> str | None:
        """ "the first one", "the second", or words from one option's title; only in a short
        answer, so "no one listens to me" is not taken for "the first one"."""
        words = set(said.split())
        if len(words) > SHORT_ANSWER_WORDS:
            return None
        if words & {"first", "former", "one"} and "second" not in words:
            return question.first
        if words & {"second", "latter", "other", "two"}:
            return question.second
        titles = {option: set(self.library.title(option).split()) - {"a", "the", "of", "and"}
                  for option in (question.first, question.second)}
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
            if self._timer_running():
                return Reply(self.library.timeout.cancelled, intent, CancelTimer())
            return Reply(self.library.timeout.no_timer, intent)
        # Speech has already ended (a reply cannot be interrupted) and an exercise under way
        # hears "stop" as its own command: nothing is left to stop.
        return Reply(self.library.entry("stop").reply, intent)

    def _slower(self, intent: Intent) -> Reply:
        return Reply(self.library.entry("slower").reply, intent, ChangeRate(1 / RATE_STEP))

    def _faster(self, intent: Intent) -> Reply:
        return Reply(self.library.entry("faster").reply, intent, ChangeRate(RATE_STEP))

    def _yes(self, intent: Intent) -> Reply:
        return Reply(self.library.entry("yes").reply, intent)

    def _no(self, intent: Intent) -> Reply:
        return Reply(self.library.entry("no").reply, intent)

    def _greeting(self, intent: Intent) -> Reply:
        return Reply(self.library.entry("greeting").reply, intent)

    def _thanks(self, intent: Intent) -> Reply:
        # The topic stays: "next" after "thanks" goes on with it.
        return Reply(self.library.entry("thanks").reply, intent)

    def _feelings(self, intent: Intent) -> Reply:
        if _GOOD_FEELING.search(intent.text) and not _NEGATED.search(intent.text):
            return Reply(self.library.lines.feeling_good, intent)
        self.state.question = _FeelingsOffer()
        return Reply(self.library.entry("feelings").reply, intent)

    def _offer_answer(self, answer: Intent) -> Reply | None:
        """Breathing, talking it through, or a tip: the answer to the feelings offer."""
        words = set(answer.text.split())
        if answer.id in ("calm_down", "yes") or words & {"breathing", "breathe", "breath"}:
            return Reply(self.library.entry("calm_down").reply, answer,
                         StartBreathing("gentle"))
        if words & {"talk", "talking", "through", "listen", "vent"}:
            return Reply(self.library.lines.talk_it_through, answer)
        if answer.id == "tips" or words & {"tip", "tips", "advice", "idea"}:
            return self._tips(Intent("tips", answer.confidence, text=answer.text))
        if answer.id in ("no", "stop"):
            return Reply(self.library.lines.offer_declined, answer)
        return None

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
        topic = self.state.topic
        if topic is not None and topic.entry == entry.id and entry.follow_up:
            # Asked again right after its answer ("give me an example" after the I-statement
            # answer): the same words would not help; the next of its lines might.
            return self._next(replace(intent, id="next", slots={"what": "more"}))
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
        self.state.question = _TimerOffer(minutes)
        offer = self.library.timeout.offer.format(minutes=minutes)
        return Reply(f"{self.library.entry('time_out').reply} {offer}", intent)

    def _timer_answer(self, question: _TimerOffer, answer: Intent) -> Reply | None:
        lines = self.library.timeout
        minutes = minutes_in(answer.text)
        if minutes is None and answer.id == "yes":
            minutes = question.minutes
        if minutes is not None:
            if not MIN_BREAK <= minutes <= MAX_BREAK:
                self.state.question = question
                return Reply(lines.out_of_range, answer)
            return Reply(lines.started.format(minutes=minutes), answer, StartTimer(minutes))
        if answer.id in ("no", "stop"):
            return Reply(lines.declined, answer)
        return None

    def timer_finished(self, minutes: int, while_off: bool = False) -> str:
        """What to say when a break timer runs out; the next answer picks how to restart."""
        lines = self.library.timeout
        said = lines.missed if while_off else lines.done
        self.state.question = _RestartOffer()
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

    def instant_commands(self) -> frozenset[str]:
        """What an exercise obeys the moment it is said, before the full reading of the
        utterance is in: stop, pause, resume, slower, faster (normalised)."""
        commands = self.library.breathing.commands
        return frozenset(normalize(p) for p in (*_PLAIN_STOPS, *commands.pause, *commands.resume,
                                                "slower", "faster", "slow down", "speed up"))

    def breathing_started(self, pattern: str) -> bool:
        """An exercise began; from now on what is heard is read as its commands (safety first,
        as always). True the first time in this conversation: the caution is owed."""
        self.state.exercise = pattern
        first, self.state.cautioned = not self.state.cautioned, True
        return first

    def breathing_ended(self, finished: Finished) -> None:
        """A finished exercise asked how they feel; the next answer is taken as the reply."""
        self.state.exercise = None
        if finished.completed:
            self.state.question = _FeelingCheck(finished.pattern)

    def _during_exercise(self, intent: Intent) -> Reply:
        """What an utterance asks of the exercise under way; nothing is said (the exercise
        announces what it does), and anything else is let pass while they breathe."""
        text = intent.text
        commands = self.library.breathing.commands
        command: Command | None = None
        if says_any(text, commands.pause):
            command = Pause()
        elif says_any(text, commands.resume):
            command = Resume()
        elif intent.id == "stop" or text in _PLAIN_STOPS:
            command = Stop()
        elif intent.id == "slower" or text == "slower":
            command = Pace(PACE_STEP)
        elif intent.id == "faster" or text == "faster":
            command = Pace(1 / PACE_STEP)
        elif ((named := breathing_pattern(text)) and named != self.state.exercise
              and (intent.id == "calm_down" or "breath" in text)):
            command = Switch(named)
            self.state.exercise = named
        return Reply("", intent, command)

    def _feeling_answer(self, question: _FeelingCheck, answer: Intent) -> Reply | None:
        commands = self.library.breathing.commands
        better = says_any(answer.text, commands.better)
        # "not okay", "no better", "not feeling fine" are worse, not better.
        worse = says_any(answer.text, commands.worse) or (better and _NEGATED.search(
            answer.text) is not None)
        better = better and not worse
        if worse or (not better and answer.id == "no"):
            self.state.question = _AnotherRound(question.pattern)
            return Reply(self.library.breathing.lines.feeling_worse, answer)
        if better or answer.id == "yes":
            return Reply(self.library.breathing.lines.feeling_better, answer)
        return None

    def _calm_down(self, intent: Intent) -> Reply:
        entry = self.library.entry("calm_down")
        self.state.topic = _Topic("calm_down")
        pattern = intent.slots.get("pattern") or breathing_pattern(intent.text) or "gentle"
        return Reply(entry.reply, intent, StartBreathing(pattern))
