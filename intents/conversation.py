"""The conversation core every front end shares: transcripts in, replies and actions out.

It knows nothing of audio, terminals or sockets. A front end (the voice loop, typed chat, the
Wyoming service) hands it each `Transcript`, with the recogniser's other readings, and carries
out the `Reply` it gets back through an executor of its own: speaking or printing the text,
running a breathing exercise, setting a timer. Every utterance takes the same path, whether an
exercise is running or not: the safety check over every reading first, then the coach.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from common.transcript import Transcript
from intents.coach import Coach, EndConversation, Reply
from intents.exercise import Finished

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Turn:
    transcript: Transcript
    reply: Reply
    during_exercise: bool  # heard while a breathing exercise was running

    @property
    def heard(self) -> str:
        return self.transcript.text

    def line(self) -> str:
        """One line for the terminal: what was heard, how it was understood, the reply."""
        if self.during_exercise and not self.reply.intent.crisis and not self.reply.text:
            return f'heard during breathing: "{self.heard}"'
        intent = self.reply.intent
        return (f'heard: "{self.heard}" | intent: {intent.id} ({intent.confidence:.2f}) | '
                f'reply: "{self.reply.display}"')


class Conversation:
    def __init__(self, coach: Coach) -> None:
        self.coach = coach
        self._finished = False

    @property
    def finished(self) -> bool:
        """The person said goodbye."""
        return self._finished

    @property
    def exercise_running(self) -> bool:
        return self.coach.state.exercise is not None

    def opening(self, missed_timer_minutes: int | None = None) -> list[str]:
        """What is said when the conversation opens: the greeting with its disclaimer, and a
        break timer that ran out while the program was off."""
        lines = [self.coach.greet()]
        if missed_timer_minutes is not None:
            lines.append(self.coach.timer_finished(missed_timer_minutes, while_off=True))
        return lines

    def hear(self, transcript: Transcript) -> Turn:
        during_exercise = self.exercise_running
        reply = self.coach.reply_to(self.coach.understand(transcript))
        if isinstance(reply.action, EndConversation):
            self._finished = True
        log.debug("heard %r -> %s", transcript.text, reply.intent.id)
        return Turn(transcript, reply, during_exercise)

    def hear_again(self, transcript: Transcript, acted_on: Turn) -> Turn | None:
        """The full reading of an utterance whose start was already acted on at once (an
        instant command during an exercise). It is a new turn only if it says more than that
        command: anything that touches safety, or another request."""
        intent = self.coach.understand(transcript)
        if not (intent.crisis or intent.possible_crisis is not None
                or intent.safety.level != "safe") and (
                intent.id in (acted_on.reply.intent.id, "none")
                or intent.text == acted_on.reply.intent.text):
            log.debug("full reading %r adds nothing to %r", transcript.text, acted_on.heard)
            return None
        return self.hear(transcript)

    def timer_finished(self, minutes: int) -> str:
        return self.coach.timer_finished(minutes)

    def exercise_started(self, pattern: str) -> bool:
        """True when the breathing caution is still owed in this conversation."""
        return self.coach.breathing_started(pattern)

    def exercise_ended(self, finished: Finished) -> None:
        self.coach.breathing_ended(finished)
