"""A simulated GP practice on MESH (development and tests only): it collects GP Connect Send
Document messages from its mailbox as a practice system would, checks each one, and answers
with ITK3 responses under the workflow's acknowledgement id.

Checked as a receiving system does (ITK3 Message Distribution v2.9.0, "Handling
Specification" and "Response patterns"): the body parses as a FHIR STU3 message Bundle
(fhir.resources' STU3 models) whose MessageHeader asks for responses, and carries a PDF
(`Binary`, application/pdf). A message that fails the check gets the negative
infrastructure response 10009 (unreadable message received); one that passes gets 20013
(success), then the business response its script says: 30001 (filed) by default, or a
negative one such as 30003 for a practice scripted to refuse. One instance answers for one
practice mailbox, as a practice system does.

Run by `liaison mesh-practice` beside mesh-sandbox in `liaison dev`; the tests drive
`SimulatedMeshPractice.answer_waiting` directly.
"""

import json
import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from fhir.resources.STU3.bundle import Bundle
from mesh_client import MeshClient

from adapters.mesh_gp import REGISTERED_WORKFLOWS
from fhir_profiles.send_document.contract import ResponseKind
from fhir_profiles.send_document.responses import build_itk_response

log = logging.getLogger(__name__)

INFRASTRUCTURE_SUCCESS: Final = "20013"
UNREADABLE: Final = "10009"
BUSINESS_SUCCESS: Final = "30001"
NO_LONGER_HERE: Final = "30003"


@dataclass(frozen=True)
class PracticeScript:
    """What a simulated practice answers: its business response code (None: only the
    infrastructure response, as a practice whose staff have not filed it yet)."""

    business: str | None = BUSINESS_SUCCESS


@dataclass(frozen=True)
class Answered:
    message_id: str
    workflow_id: str | None
    codes: tuple[str, ...]  # the response codes sent, in order
    document: dict[str, Any] | None = None  # the message as received (tests read it)
    valid: bool = True  # False: not a Send Document message it could take


def _resources(value: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(value, Mapping):
        if isinstance(value.get("resourceType"), str):
            yield value
        for item in value.values():
            yield from _resources(item)
    elif isinstance(value, list):
        for item in value:
            yield from _resources(item)


def check_message(body: bytes) -> dict[str, Any] | None:
    """The message, if it is one a practice system can take: an STU3 message Bundle with a
    MessageHeader and a PDF. None otherwise."""
    try:
        message: Any = json.loads(body)
        Bundle.model_validate(message)
    except ValueError:
        return None
    if not isinstance(message, dict) or message.get("type") != "message":
        return None
    types = [(r.get("resourceType"), r.get("contentType")) for r in _resources(message)]
    if not any(kind == "MessageHeader" for kind, _ in types):
        return None
    if ("Binary", "application/pdf") not in types:
        return None
    return message


@dataclass
class SimulatedMeshPractice:
    """Answers what waits in one practice's MESH mailbox (`client` is signed in to it), as
    its `script` says."""

    client: MeshClient
    script: PracticeScript = field(default_factory=PracticeScript)
    mailbox: str | None = None  # its own mailbox id, named in its responses

    def answer_waiting(self) -> list[Answered]:
        answered: list[Answered] = []
        for message_id in self.client.list_messages():
            answered.append(self._answer(message_id))
            # Collected: MESH tells the sender it was downloaded.
            self.client.acknowledge_message(message_id)
        return answered

    def _answer(self, message_id: str) -> Answered:
        with self.client.retrieve_message(message_id) as received:
            body = received.read() or b""
            workflow_id, sender = received.workflow_id, received.sender
        ack_workflow = REGISTERED_WORKFLOWS.get(workflow_id or "")
        if ack_workflow is None or not sender:
            return Answered(message_id, workflow_id, (), valid=False)
        message = check_message(body)
        if message is None:
            # 10009 "Unreadable message received", naming what can still be read of it (the
            # sender's reference); a body with nothing readable gets no answer at all.
            try:
                refusal = build_itk_response(
                    body,
                    kind=ResponseKind.INFRASTRUCTURE,
                    code=UNREADABLE,
                    practice_mailbox=self.mailbox,
                )
            except ValueError:
                return Answered(message_id, workflow_id, (), valid=False)
            self.client.send_message(
                sender, refusal, workflow_id=ack_workflow, content_type="application/fhir+json"
            )
            return Answered(message_id, workflow_id, (UNREADABLE,), valid=False)
        business = self.script.business
        codes = [INFRASTRUCTURE_SUCCESS] + ([business] if business else [])
        for code in codes:
            kind = ResponseKind.BUSINESS if code.startswith("3") else ResponseKind.INFRASTRUCTURE
            self.client.send_message(
                sender,
                build_itk_response(body, kind=kind, code=code, practice_mailbox=self.mailbox),
                workflow_id=ack_workflow,
                content_type="application/fhir+json",
            )
        return Answered(message_id, workflow_id, tuple(codes), message)


def run(practice: SimulatedMeshPractice, *, every_seconds: float) -> None:
    """Answer for ever (the `liaison mesh-practice` stand-in)."""
    while True:
        try:
            for answer in practice.answer_waiting():
                log.info("answered %s with %s", answer.message_id, ",".join(answer.codes))
        except Exception as error:  # a stand-in keeps going whatever happens
            log.warning("simulated MESH practice: %s", type(error).__name__)
        time.sleep(every_seconds)
