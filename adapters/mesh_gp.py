"""GP practices reached through MESH: GP Connect Send Document.

GP Connect Send Document (simplifier.net, "GP Connect Send Document" v2.0.1, "Using MESH")
is the nationally assured route for a document from another care setting into the
registered practice's workflow: an ITK3 FHIR STU3 message carrying a PDF letter, sent over
MESH under a registered workflow id, answered with ITK3 responses under that workflow's
acknowledgement id. Each delivery is one message (`MeshGPSystem.submit`): the worker hands
over the delivery Bundle and the document's envelope (which message, which version of which
document); the message itself is built here, at delivery time, by the Send Document builder.

Where it goes, in this order: the mailbox the practice directory names (tests and local
agreements), else the mailbox MESH's endpoint lookup gives for the practice's ODS code and
the workflow, else MESH automated routing to the patient's registered practice (the
`Mex-To` of the GP provider form: NHS number, birth date and surname), which the guide asks
senders to use (requirement GPCM-SD-056).

MESH is store-and-forward: a message MESH accepted is in transit, so the receipt says
`in_transit`; the practice's ITK3 responses say when its system received the message and
when its workflow filed it (gateway.services.itk_responses).
"""

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from adapters.errors import AdapterError, PermanentAdapterError
from adapters.gp_system import Capability, Delivery, SubmitReceipt, Tracking
from fhir_profiles.send_document.contract import ACK_WORKFLOW_ID, WORKFLOW_ID, DocumentEnvelope

if TYPE_CHECKING:
    # The mailbox client (mesh_client and requests, about 5 MB resident) is the caller's:
    # the gateway reads this module's workflow register without ever opening a mailbox.
    from adapters.mesh import MeshMailbox

# MESH workflow ids are registered nationally, each bound to a workflow group and its
# acknowledgement id; a practice entry may name only one of these.
REGISTERED_WORKFLOWS: Final[dict[str, str]] = {
    # GP Connect Send Document v2.0.1, "Using MESH": the current Send Document workflow.
    WORKFLOW_ID: ACK_WORKFLOW_ID,
    # GP Connect Send Document v1.3.2, "How to configure MESH": the federated consultation
    # report workflow of the first Send Document use case, still filed by some practices.
    "GPFED_CONSULT_REPORT": "GPFED_CONSULT_REPORT_ACK",
}
ACK_WORKFLOWS: Final = frozenset(REGISTERED_WORKFLOWS.values())
# No patient detail in MESH headers: they are visible to every relay and in tracking.
SUBJECT: Final = "Document from a stop-smoking service"
ITK_MESSAGE_NAMESPACE: Final = uuid.UUID("8b6b4f5e-5a0e-4f55-9d8c-3c1d0f1b7a21")

Compose = Callable[[dict[str, Any], DocumentEnvelope], bytes]
Address = Callable[[dict[str, Any]], str]


def itk_message_id(delivery_id: str) -> str:
    """The ITK MessageHeader id of the message a delivery sends: the same on every retry of
    that delivery (the practice discards a duplicate), new for a replay or a new version."""
    return str(uuid.uuid5(ITK_MESSAGE_NAMESPACE, delivery_id))


def workflow_problem(workflow_id: str) -> str | None:
    if workflow_id in REGISTERED_WORKFLOWS:
        return None
    names = ", ".join(sorted(REGISTERED_WORKFLOWS))
    return f"is not a registered MESH workflow id Liaison sends under (one of {names})"


class MeshGPSystem:
    """`GPSystem` for one practice reached through MESH.

    Nothing is polled per practice: the practices' ITK3 responses arrive in Liaison's own
    mailbox, for every practice at once (workers.polling.read_mesh_inbox), and each message
    sent is tracked until the practice's system collects it."""

    capabilities = Capability.SUBMIT | Capability.WITHDRAW | Capability.TRACK

    def __init__(
        self,
        *,
        mailbox: "MeshMailbox",
        compose: Compose,
        address: Address,
        practice_mailbox: str | None = None,
        workflow_id: str = WORKFLOW_ID,
        lookup: bool = True,
        subject: Callable[[DocumentEnvelope], str] = lambda envelope: SUBJECT,
    ) -> None:
        self._mailbox = mailbox
        self._compose = compose
        self._address = address
        self._practice_mailbox = practice_mailbox.upper() if practice_mailbox else None
        self._workflow_id = workflow_id
        self._lookup = lookup
        self._subject = subject

    @property
    def workflow_id(self) -> str:
        return self._workflow_id

    def submit(self, delivery: Delivery) -> SubmitReceipt:
        envelope = delivery.document
        if envelope is None:
            raise PermanentAdapterError("a MESH delivery needs its document envelope")
        # MESH has no conditional create: ask whether this delivery was sent already (a
        # worker that died after MESH accepted it), so a retry never sends it twice. The
        # local id is this delivery's own id: a replay is sent again, as a new message.
        local_id = envelope.sender_reference
        existing = self._mailbox.find_sent(local_id)
        if existing is not None:
            return SubmitReceipt(existing, 200, created=False, in_transit=True)
        bundle = delivery.document_bundle or delivery.bundle
        try:
            body = self._compose(bundle, envelope)
            recipient = self._recipient(delivery.ods_code, bundle)
        except (ValueError, KeyError) as error:
            # A request Liaison cannot put in a letter, or address, is not worth retrying;
            # the builder's words never hold the patient's details, but are not kept anyway.
            raise PermanentAdapterError(
                f"the Send Document message could not be built ({type(error).__name__})"
            ) from error
        message_id = self._mailbox.send(
            recipient=recipient,
            body=body,
            workflow_id=self._workflow_id,
            local_id=local_id,
            subject=self._subject(envelope),
        )
        return SubmitReceipt(message_id, 202, created=True, in_transit=True)

    def _recipient(self, ods_code: str, bundle: dict[str, Any]) -> str:
        if self._practice_mailbox:
            return self._practice_mailbox
        if self._lookup:
            found = self._mailbox.lookup(ods_code, self._workflow_id)
            if found:
                return found.upper()
        # Automated routing: MESH finds the registered practice from the patient's details.
        return self._address(bundle)

    def track(self, message_id: str) -> Tracking:
        return self._mailbox.track(message_id)

    def health(self) -> bool:
        try:
            self._mailbox.handshake()
        except AdapterError:
            return False
        return True
