//! Request bodies of the connection case's commands, and their conversion into domain
//! commands.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use domain::Personal;
use domain::case::{
    AcceptSelfDeclaration, AgreeDeviation, Answer, Application, ApproveApplication,
    ApproveFinalVerification, AttestCatalogueVersion, CaseCommand, ChangeWorkstations,
    CommitmentKind, CompleteTraining, Compliance, DecideNonStandardService, EndConnection, Ending,
    FailFinalVerification, FindingKind, GoLive, ListStaffMember, Milestone, NamedContact,
    OrganisationalChange, RecordFinding, RecordMilestone, RecordPlan, RecordStaffCommitment,
    RecordStepApplicability, RecordTechnicalCheck, RejectApplication, RejectFindingResponse,
    Remark, ReportOrganisationalChange, RequestNonStandardService, RequireAttestation,
    ResolveFinding, RespondToFinding, ResumeConnection, ReturnSelfDeclaration,
    ScheduleFinalVerification, ServiceDecision, SignAgreement, SignContract, SignFinalContract,
    StaffMember, SubmitSelfDeclaration, SuspendConnection, UpdateContact,
};
use domain::identity::{HsaId, OrgNumber, Personnummer};
use domain::ids::{
    CaseId, FindingNo, ProgrammeId, RequirementId, ServicePackageId, ServiceRequestNo,
};
use domain::process::StepId;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

use super::{
    ContactRoleDto, Fields, identity_message, long, long_opt, parse_person, short, short_opt,
};
use crate::all_fields;
use crate::application::subjects::SubjectIds;
use crate::problem::ApiError;

/// What converting a request needs besides its body.
#[derive(Debug, Clone, Copy)]
pub struct Conversion<'a> {
    /// Today, for the personnummer century rule.
    pub today: NaiveDate,
    pub subjects: &'a SubjectIds,
}

/// A request body that becomes one case command.
pub trait CaseCommandRequest: DeserializeOwned + 'static {
    fn into_command(self, conversion: &Conversion<'_>) -> Result<CaseCommand, ApiError>;
}

/// A contact named in an application.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactRequest {
    /// The role the person holds for the case.
    pub role: ContactRoleDto,
    /// The person's name.
    #[schema(
        example = "Karin Lindqvist",
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$",
        min_length = 1,
        max_length = 200
    )]
    pub name: String,
    /// An e-mail address.
    #[schema(
        example = "karin.lindqvist@ostersundshalsan.se",
        pattern = "^[!-?A-~]+@[-!-,/-?A-~][!-?A-~]*[.][!-?A-~]*[-!-,/-?A-~]$",
        max_length = 254
    )]
    pub email: String,
    /// A phone number, digits with an optional leading `+`.
    #[schema(example = "+46 63 14 20 00", pattern = r"^\+?[0-9]([ -]*[0-9]){4,19}$")]
    pub phone: Option<String>,
}

/// An application to connect one provider unit to one region programme (ansökan om
/// vårdenhet).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitApplicationRequest {
    /// The programme applied to, e.g. `jamtland-halsoval` (see `GET /v1/catalogues`).
    #[schema(
        example = "jamtland-halsoval",
        pattern = "^[a-z0-9]+(-[a-z0-9]+)*$",
        max_length = 64
    )]
    pub programme: String,
    /// The unit's name.
    #[schema(
        example = "Östersundshälsan Vårdcentral",
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$",
        min_length = 1,
        max_length = 200
    )]
    pub unit_name: String,
    /// The provider's organisationsnummer, `NNNNNN-NNNN`.
    #[schema(
        example = "556677-8899",
        format = "organisationsnummer",
        pattern = "^(16)?[0-9]{2}[2-9][0-9]{3}-?[0-9]{4}$"
    )]
    pub org_number: String,
    /// The IT service packages the unit will connect to; every mandatory package of the
    /// programme must be among them.
    #[schema(schema_with = super::slug_list, example = json!(["vardutbud-bas", "stodapplikationer"]))]
    pub service_packages: Vec<String>,
    /// Optional priced items, by the catalogue's price item name.
    #[serde(default)]
    #[schema(example = json!([]))]
    pub optional_services: Vec<String>,
    /// Workstations the unit will connect.
    #[schema(example = 12)]
    #[serde(deserialize_with = "super::whole_u32")]
    pub workstations: u32,
    /// Listed patients the unit expects, where the programme prices per listed patient.
    #[schema(example = 4200)]
    #[serde(default, deserialize_with = "super::whole_u32_opt")]
    pub listed_patients: Option<u32>,
    /// The people the programme requires, by role.
    pub contacts: Vec<ContactRequest>,
    /// When the provider wants to go live (önskat driftstartdatum).
    #[schema(example = "2026-09-01")]
    pub requested_go_live: NaiveDate,
    /// Jämtland: the system used to measure telephone calls.
    #[schema(
        example = "Telia Touchpoint",
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$",
        min_length = 1,
        max_length = 200
    )]
    pub call_measurement_system: Option<String>,
}

impl SubmitApplicationRequest {
    pub fn into_command(
        self,
        case_id: CaseId,
        conversion: &Conversion<'_>,
    ) -> Result<CaseCommand, ApiError> {
        let mut f = Fields::default();
        let programme = f.take("programme", ProgrammeId::parse(&self.programme));
        let unit_name = short(&mut f, "unit_name", &self.unit_name);
        let org_number = f.take(
            "org_number",
            OrgNumber::parse(&self.org_number).map_err(|e| identity_message(&e)),
        );
        let mut service_packages = BTreeSet::new();
        for (i, package) in self.service_packages.iter().enumerate() {
            if let Some(id) = f.take(
                format!("service_packages[{i}]"),
                ServicePackageId::parse(package),
            ) {
                service_packages.insert(id);
            }
        }
        let mut contacts = Vec::new();
        for (i, contact) in self.contacts.iter().enumerate() {
            if let Some(details) = parse_person(
                &mut f,
                &format!("contacts[{i}]"),
                &contact.name,
                &contact.email,
                contact.phone.as_deref(),
            ) {
                contacts.push(NamedContact {
                    role: contact.role.into(),
                    person: Personal::new(conversion.subjects.contact(), details),
                });
            }
        }
        let call_measurement_system = short_opt(
            &mut f,
            "call_measurement_system",
            self.call_measurement_system.as_ref(),
        );
        all_fields!(f; programme, unit_name, org_number, call_measurement_system);
        Ok(CaseCommand::SubmitApplication(Application {
            case_id,
            programme,
            unit_name,
            org_number,
            service_packages,
            optional_services: self.optional_services.into_iter().collect(),
            workstations: self.workstations,
            listed_patients: self.listed_patients,
            contacts,
            requested_go_live: self.requested_go_live,
            call_measurement_system,
        }))
    }
}

/// Declares a request holding only a reason, for one decision command.
macro_rules! reason_request {
    ($(#[$doc:meta])* $name:ident => $variant:ident($command:ident), $example:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Deserialize, ToSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// Why: recorded with the decision (up to 4,000 characters).
            #[schema(example = $example, pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$", min_length = 1, max_length = 4000)]
            pub reason: String,
        }

        impl CaseCommandRequest for $name {
            fn into_command(self, _: &Conversion<'_>) -> Result<CaseCommand, ApiError> {
                let mut f = Fields::default();
                let reason = long(&mut f, "reason", &self.reason);
                all_fields!(f; reason);
                Ok(CaseCommand::$variant($command { reason }))
            }
        }
    };
}

reason_request!(
    /// Approve an application.
    ApproveApplicationRequest => ApproveApplication(ApproveApplication),
    "The application is complete and the unit meets the programme's conditions."
);
reason_request!(
    /// Reject an application.
    RejectApplicationRequest => RejectApplication(RejectApplication),
    "The provider does not hold the required care permit."
);
reason_request!(
    /// Accept the submitted self-declaration.
    AcceptSelfDeclarationRequest => AcceptSelfDeclaration(AcceptSelfDeclaration),
    "Every requirement is answered and the evidence is in order."
);
reason_request!(
    /// Approve the final verification (slutverifiering).
    ApproveFinalVerificationRequest => ApproveFinalVerification(ApproveFinalVerification),
    "The premises and the IT environment meet the contract; recommendations noted."
);
reason_request!(
    /// Fail the final verification; a new round is scheduled.
    FailFinalVerificationRequest => FailFinalVerification(FailFinalVerification),
    "The server room is not locked; see demand 1."
);
reason_request!(
    /// Decide go-live (driftstart).
    GoLiveRequest => GoLive(GoLive),
    "Every condition of go-live is met."
);
reason_request!(
    /// Suspend the connection.
    SuspendConnectionRequest => SuspendConnection(SuspendConnection),
    "Suspected misuse of a SITHS card; access suspended pending investigation."
);
reason_request!(
    /// Resume a suspended connection.
    ResumeConnectionRequest => ResumeConnection(ResumeConnection),
    "The investigation is closed and the card replaced."
);

/// Sign the connection contract (anslutningsavtal); starts establishment.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignContractRequest {
    /// The day of signing; not in the future.
    #[schema(example = "2026-03-02")]
    pub signed_on: NaiveDate,
    /// The region's reference to the signed document.
    #[schema(
        example = "RS 2026/114",
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$",
        min_length = 1,
        max_length = 200
    )]
    pub document: Option<String>,
}

impl CaseCommandRequest for SignContractRequest {
    fn into_command(self, _: &Conversion<'_>) -> Result<CaseCommand, ApiError> {
        let mut f = Fields::default();
        let document = short_opt(&mut f, "document", self.document.as_ref());
        all_fields!(f; document);
        Ok(CaseCommand::SignContract(SignContract {
            signed_on: self.signed_on,
            document,
        }))
    }
}

/// Sign the final contract, after an approved final verification.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignFinalContractRequest {
    /// The day of signing; not in the future.
    #[schema(example = "2026-05-20")]
    pub signed_on: NaiveDate,
    /// The region's reference to the signed document.
    #[schema(
        example = "RS 2026/287",
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$",
        min_length = 1,
        max_length = 200
    )]
    pub document: Option<String>,
}

impl CaseCommandRequest for SignFinalContractRequest {
    fn into_command(self, _: &Conversion<'_>) -> Result<CaseCommand, ApiError> {
        let mut f = Fields::default();
        let document = short_opt(&mut f, "document", self.document.as_ref());
        all_fields!(f; document);
        Ok(CaseCommand::SignFinalContract(SignFinalContract {
            signed_on: self.signed_on,
            document,
        }))
    }
}

/// Record an agreement the programme demands as signed.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignAgreementRequest {
    /// The requirement that demands the agreement.
    #[schema(example = "JHV-014", pattern = "^[A-Z][A-Z0-9.-]*$", max_length = 32)]
    pub agreement: String,
    /// The day of signing; not in the future.
    #[schema(example = "2026-03-05")]
    pub signed_on: NaiveDate,
    /// Who signed with the provider.
    #[schema(
        example = "Inera AB",
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$",
        min_length = 1,
        max_length = 200
    )]
    pub counterparty: String,
    /// A reference to the signed document.
    #[schema(
        example = "Inera 2026-0311",
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$",
        min_length = 1,
        max_length = 200
    )]
    pub document: Option<String>,
}

impl CaseCommandRequest for SignAgreementRequest {
    fn into_command(self, _: &Conversion<'_>) -> Result<CaseCommand, ApiError> {
        let mut f = Fields::default();
        let agreement = f.take("agreement", RequirementId::parse(&self.agreement));
        let counterparty = short(&mut f, "counterparty", &self.counterparty);
        let document = short_opt(&mut f, "document", self.document.as_ref());
        all_fields!(f; agreement, counterparty, document);
        Ok(CaseCommand::SignAgreement(SignAgreement {
            agreement,
            signed_on: self.signed_on,
            counterparty,
            document,
        }))
    }
}

/// Whether the provider meets a requirement.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ComplianceDto {
    Complies,
    DoesNotComply,
    NotApplicable,
}

impl From<ComplianceDto> for Compliance {
    fn from(value: ComplianceDto) -> Self {
        match value {
            ComplianceDto::Complies => Self::Complies,
            ComplianceDto::DoesNotComply => Self::DoesNotComply,
            ComplianceDto::NotApplicable => Self::NotApplicable,
        }
    }
}

/// The provider's answer to one requirement.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerRequest {
    /// The requirement answered.
    #[schema(example = "JHV-003", pattern = "^[A-Z][A-Z0-9.-]*$", max_length = 32)]
    pub requirement: String,
    pub compliance: ComplianceDto,
    /// How the provider meets it, or why not; required unless it complies.
    #[schema(
        example = "Workstations are managed by Region IT under the standard agreement.",
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$",
        min_length = 1,
        max_length = 4000
    )]
    pub description: Option<String>,
    /// References to evidence.
    #[serde(default)]
    #[schema(schema_with = super::short_text_list, example = json!(["IT-policy 2026, §4"]))]
    pub evidence: Vec<String>,
}

fn answers(f: &mut Fields, path: &str, raw: &[AnswerRequest]) -> Vec<Answer> {
    let mut answers = Vec::with_capacity(raw.len());
    for (i, answer) in raw.iter().enumerate() {
        let at = format!("{path}[{i}]");
        let requirement = f.take(
            format!("{at}.requirement"),
            RequirementId::parse(&answer.requirement),
        );
        let description = long_opt(f, &format!("{at}.description"), answer.description.as_ref());
        let mut evidence = Vec::new();
        for (j, item) in answer.evidence.iter().enumerate() {
            if let Some(item) = short(f, &format!("{at}.evidence[{j}]"), item) {
                evidence.push(item);
            }
        }
        if let (Some(requirement), Some(description)) = (requirement, description) {
            answers.push(Answer {
                requirement,
                compliance: answer.compliance.into(),
                description,
                evidence,
            });
        }
    }
    answers
}

/// Submit the self-declaration: one answer per requirement of the catalogue the case is held
/// to.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitSelfDeclarationRequest {
    pub answers: Vec<AnswerRequest>,
}

impl CaseCommandRequest for SubmitSelfDeclarationRequest {
    fn into_command(self, _: &Conversion<'_>) -> Result<CaseCommand, ApiError> {
        let mut f = Fields::default();
        let answers = answers(&mut f, "answers", &self.answers);
        if !f.is_empty() {
            return Err(f.error());
        }
        Ok(CaseCommand::SubmitSelfDeclaration(SubmitSelfDeclaration {
            answers,
        }))
    }
}

/// A remark on one requirement.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemarkRequest {
    #[schema(example = "JHV-021", pattern = "^[A-Z][A-Z0-9.-]*$", max_length = 32)]
    pub requirement: String,
    #[schema(
        example = "Describe how backups of the local file server are tested.",
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$",
        min_length = 1,
        max_length = 4000
    )]
    pub remark: String,
}

/// Return the self-declaration for completion.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnSelfDeclarationRequest {
    /// Why it is returned.
    #[schema(
        example = "Two answers lack a description.",
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$",
        min_length = 1,
        max_length = 4000
    )]
    pub reason: String,
    /// Remarks per requirement.
    #[serde(default)]
    pub remarks: Vec<RemarkRequest>,
}

impl CaseCommandRequest for ReturnSelfDeclarationRequest {
    fn into_command(self, _: &Conversion<'_>) -> Result<CaseCommand, ApiError> {
        let mut f = Fields::default();
        let reason = long(&mut f, "reason", &self.reason);
        let mut remarks = Vec::new();
        for (i, remark) in self.remarks.iter().enumerate() {
            let requirement = f.take(
                format!("remarks[{i}].requirement"),
                RequirementId::parse(&remark.requirement),
            );
            let text = long(&mut f, &format!("remarks[{i}].remark"), &remark.remark);
            if let (Some(requirement), Some(remark)) = (requirement, text) {
                remarks.push(Remark {
                    requirement,
                    remark,
                });
            }
        }
        all_fields!(f; reason);
        Ok(CaseCommand::ReturnSelfDeclaration(ReturnSelfDeclaration {
            reason,
            remarks,
        }))
    }
}

/// Agree that the provider may deviate from a must-requirement.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgreeDeviationRequest {
    #[schema(example = "JHV-030", pattern = "^[A-Z][A-Z0-9.-]*$", max_length = 32)]
    pub requirement: String,
    #[schema(
        example = "The unit moves to new premises in June; the old server room is accepted until then."
    )]
    #[schema(
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$",
        min_length = 1,
        max_length = 4000
    )]
    pub reason: String,
    /// The deviation lapses after this day, when temporary.
    #[schema(example = "2026-06-30")]
    pub valid_until: Option<NaiveDate>,
}

impl CaseCommandRequest for AgreeDeviationRequest {
    fn into_command(self, _: &Conversion<'_>) -> Result<CaseCommand, ApiError> {
        let mut f = Fields::default();
        let requirement = f.take("requirement", RequirementId::parse(&self.requirement));
        let reason = long(&mut f, "reason", &self.reason);
        all_fields!(f; requirement, reason);
        Ok(CaseCommand::AgreeDeviation(AgreeDeviation {
            requirement,
            reason,
            valid_until: self.valid_until,
        }))
    }
}

/// What a staff member signed.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CommitmentKindDto {
    /// The IT responsibility commitment (ansvarsförbindelse).
    ResponsibilityCommitment,
    /// The confidentiality reminder (sekretesserinran).
    ConfidentialityReminder,
}

impl From<CommitmentKindDto> for CommitmentKind {
    fn from(value: CommitmentKindDto) -> Self {
        match value {
            CommitmentKindDto::ResponsibilityCommitment => Self::ResponsibilityCommitment,
            CommitmentKindDto::ConfidentialityReminder => Self::ConfidentialityReminder,
        }
    }
}

/// Record a staff member's signed commitment. The name and personnummer are personal data:
/// stored per data subject, never shown in views, never logged.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordStaffCommitmentRequest {
    /// The person's HSA-id.
    #[schema(
        example = "SE5566778899-K7Q2",
        format = "hsa-id",
        pattern = "^[Ss][Ee][0-9]{2}[2-9][0-9]{7}-[A-Za-z0-9]+$",
        max_length = 31
    )]
    pub hsa_id: String,
    /// The person's name.
    #[schema(
        example = "Per Olsson",
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$",
        min_length = 1,
        max_length = 200
    )]
    pub name: String,
    /// The person's personnummer, `YYMMDD-NNNN` or `YYYYMMDDNNNN`.
    #[schema(
        example = "19811218-9876",
        format = "personnummer",
        pattern = "^([0-9]{8}-?[0-9]{4}|[0-9]{6}[-+]?[0-9]{4})$"
    )]
    pub personnummer: String,
    pub kind: CommitmentKindDto,
    /// The day of signing; not in the future.
    #[schema(example = "2026-03-10")]
    pub signed_on: NaiveDate,
}

impl CaseCommandRequest for RecordStaffCommitmentRequest {
    fn into_command(self, conversion: &Conversion<'_>) -> Result<CaseCommand, ApiError> {
        Ok(CaseCommand::RecordStaffCommitment(RecordStaffCommitment {
            person: staff_member(conversion, &self.hsa_id, &self.name, &self.personnummer)?,
            kind: self.kind.into(),
            signed_on: self.signed_on,
        }))
    }
}

/// A staff member from a request's fields. A fresh subject here;
/// `privacy::assign_subjects` gives the staff member theirs in the case's region before the
/// command runs.
fn staff_member(
    conversion: &Conversion<'_>,
    hsa_id: &str,
    name: &str,
    personnummer: &str,
) -> Result<Personal<StaffMember>, ApiError> {
    let mut f = Fields::default();
    let hsa_id = f.take(
        "hsa_id",
        HsaId::parse(hsa_id).map_err(|e| identity_message(&e)),
    );
    let name = short(&mut f, "name", name);
    let personnummer = f.take(
        "personnummer",
        Personnummer::parse(personnummer, conversion.today).map_err(|e| identity_message(&e)),
    );
    all_fields!(f; hsa_id, name, personnummer);
    Ok(Personal::new(
        conversion.subjects.contact(),
        StaffMember {
            name,
            personnummer,
            hsa_id,
        },
    ))
}

/// List a user of the provider. The name, personnummer and HSA-id are personal data:
/// stored per data subject, never logged, shown as the staff commitments are.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListStaffMemberRequest {
    /// The person's HSA-id.
    #[schema(
        example = "SE5566778899-K7Q3",
        format = "hsa-id",
        pattern = "^[Ss][Ee][0-9]{2}[2-9][0-9]{7}-[A-Za-z0-9]+$",
        max_length = 31
    )]
    pub hsa_id: String,
    #[schema(
        example = "Lena Berg",
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$",
        min_length = 1,
        max_length = 200
    )]
    pub name: String,
    /// The person's personnummer, `YYMMDD-NNNN` or `YYYYMMDDNNNN`.
    #[schema(
        example = "19900314-2388",
        format = "personnummer",
        pattern = "^([0-9]{8}-?[0-9]{4}|[0-9]{6}[-+]?[0-9]{4})$"
    )]
    pub personnummer: String,
    /// The day the user's access to the region's IT starts.
    #[schema(example = "2026-04-01")]
    pub access_from: NaiveDate,
}

impl CaseCommandRequest for ListStaffMemberRequest {
    fn into_command(self, conversion: &Conversion<'_>) -> Result<CaseCommand, ApiError> {
        Ok(CaseCommand::ListStaffMember(ListStaffMember {
            person: staff_member(conversion, &self.hsa_id, &self.name, &self.personnummer)?,
            access_from: self.access_from,
        }))
    }
}

/// Record whether a conditional step applies to the case.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordStepApplicabilityRequest {
    /// The step's id in the programme's process (`GET /v1/catalogues/{programme}/versions/{version}/process`).
    #[schema(
        example = "avtal-hjalpmedelssystem",
        pattern = "^[a-z0-9]+(-[a-z0-9]+)*$",
        max_length = 64
    )]
    pub step: String,
    pub applies: bool,
    #[schema(
        example = "The unit prescribes aids and connects to Hjälpmedelssystem.",
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$",
        min_length = 1,
        max_length = 4000
    )]
    pub reason: String,
}

impl CaseCommandRequest for RecordStepApplicabilityRequest {
    fn into_command(self, _: &Conversion<'_>) -> Result<CaseCommand, ApiError> {
        let mut f = Fields::default();
        let step = f.take("step", StepId::parse(&self.step));
        let reason = long(&mut f, "reason", &self.reason);
        all_fields!(f; step, reason);
        Ok(CaseCommand::RecordStepApplicability(
            RecordStepApplicability {
                step,
                applies: self.applies,
                reason,
            },
        ))
    }
}

/// Record a plan the programme's process names.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordPlanRequest {
    /// The plan's step id in the programme's process.
    #[schema(
        example = "gemensam-it-plan",
        pattern = "^[a-z0-9]+(-[a-z0-9]+)*$",
        max_length = 64
    )]
    pub step: String,
    /// The day the plan was settled; not in the future.
    #[schema(example = "2026-03-12")]
    pub recorded_on: NaiveDate,
    /// The region's reference to the plan.
    #[schema(
        example = "RS 2026/131",
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$",
        min_length = 1,
        max_length = 200
    )]
    pub document: String,
}

impl CaseCommandRequest for RecordPlanRequest {
    fn into_command(self, _: &Conversion<'_>) -> Result<CaseCommand, ApiError> {
        let mut f = Fields::default();
        let step = f.take("step", StepId::parse(&self.step));
        let document = short(&mut f, "document", &self.document);
        all_fields!(f; step, document);
        Ok(CaseCommand::RecordPlan(RecordPlan {
            step,
            recorded_on: self.recorded_on,
            document,
        }))
    }
}

/// Record the region's check of one connecting computer.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordTechnicalCheckRequest {
    /// The computer as provider and region name it.
    #[schema(
        example = "FYS-KLT-01",
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$",
        min_length = 1,
        max_length = 200
    )]
    pub computer: String,
    /// The day of the check; not in the future.
    #[schema(example = "2026-04-02")]
    pub checked_on: NaiveDate,
    pub approved: bool,
    #[schema(
        example = "Disk encryption on, antivirus current.",
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$",
        min_length = 1,
        max_length = 4000
    )]
    pub remark: Option<String>,
}

impl CaseCommandRequest for RecordTechnicalCheckRequest {
    fn into_command(self, _: &Conversion<'_>) -> Result<CaseCommand, ApiError> {
        let mut f = Fields::default();
        let computer = short(&mut f, "computer", &self.computer);
        let remark = long_opt(&mut f, "remark", self.remark.as_ref());
        all_fields!(f; computer, remark);
        Ok(CaseCommand::RecordTechnicalCheck(RecordTechnicalCheck {
            computer,
            checked_on: self.checked_on,
            approved: self.approved,
            remark,
        }))
    }
}

/// A technical milestone.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum MilestoneRequest {
    /// Connected to the region's network.
    NetworkConnected {
        #[schema(
            example = "Sjunet",
            pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$",
            min_length = 1,
            max_length = 200
        )]
        network: String,
    },
    /// Workstations registered with the region.
    WorkstationsRegistered {
        #[schema(example = 12)]
        #[serde(deserialize_with = "super::whole_u32")]
        count: u32,
    },
    /// The unit's HSA entry created.
    HsaUnitCreated {
        #[schema(
            example = "SE2321000206-E0012",
            format = "hsa-id",
            pattern = "^[Ss][Ee][0-9]{2}[2-9][0-9]{7}-[A-Za-z0-9]+$",
            max_length = 31
        )]
        hsa_id: String,
    },
    /// The unit's 1177 contact card published.
    ContactCardPublished,
    /// User accounts created.
    AccountsCreated {
        #[schema(example = 14)]
        #[serde(deserialize_with = "super::whole_u32")]
        count: u32,
    },
}

/// Record a technical milestone as completed.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordMilestoneRequest {
    pub milestone: MilestoneRequest,
    #[schema(example = "2026-04-01")]
    pub completed_on: NaiveDate,
}

impl CaseCommandRequest for RecordMilestoneRequest {
    fn into_command(self, _: &Conversion<'_>) -> Result<CaseCommand, ApiError> {
        let mut f = Fields::default();
        let milestone = match self.milestone {
            MilestoneRequest::NetworkConnected { network } => {
                short(&mut f, "milestone.network", &network)
                    .map(|network| Milestone::NetworkConnected { network })
            }
            MilestoneRequest::WorkstationsRegistered { count } => {
                Some(Milestone::WorkstationsRegistered { count })
            }
            MilestoneRequest::HsaUnitCreated { hsa_id } => f
                .take(
                    "milestone.hsa_id",
                    HsaId::parse(&hsa_id).map_err(|e| identity_message(&e)),
                )
                .map(|hsa_id| Milestone::HsaUnitCreated { hsa_id }),
            MilestoneRequest::ContactCardPublished => Some(Milestone::ContactCardPublished),
            MilestoneRequest::AccountsCreated { count } => {
                Some(Milestone::AccountsCreated { count })
            }
        };
        all_fields!(f; milestone);
        Ok(CaseCommand::RecordMilestone(RecordMilestone {
            milestone,
            completed_on: self.completed_on,
        }))
    }
}

/// Record the introductory training as completed.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteTrainingRequest {
    #[schema(example = "2026-04-15")]
    pub completed_on: NaiveDate,
    /// What the training covered and who attended.
    #[schema(
        example = "Introductory training in Cosmic and the region's IT security rules, 9 staff."
    )]
    #[schema(
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$",
        min_length = 1,
        max_length = 4000
    )]
    pub description: String,
}

impl CaseCommandRequest for CompleteTrainingRequest {
    fn into_command(self, _: &Conversion<'_>) -> Result<CaseCommand, ApiError> {
        let mut f = Fields::default();
        let description = long(&mut f, "description", &self.description);
        all_fields!(f; description);
        Ok(CaseCommand::CompleteTraining(CompleteTraining {
            completed_on: self.completed_on,
            description,
        }))
    }
}

/// Schedule the final verification.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleFinalVerificationRequest {
    /// The day of the inspection; not in the past.
    #[schema(example = "2026-05-12")]
    pub scheduled_for: NaiveDate,
}

impl CaseCommandRequest for ScheduleFinalVerificationRequest {
    fn into_command(self, _: &Conversion<'_>) -> Result<CaseCommand, ApiError> {
        Ok(CaseCommand::ScheduleFinalVerification(
            ScheduleFinalVerification {
                scheduled_for: self.scheduled_for,
            },
        ))
    }
}

/// A recommendation (should be done) or a demand (must be done).
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FindingKindDto {
    Recommendation,
    Demand,
}

impl From<FindingKindDto> for FindingKind {
    fn from(value: FindingKindDto) -> Self {
        match value {
            FindingKindDto::Recommendation => Self::Recommendation,
            FindingKindDto::Demand => Self::Demand,
        }
    }
}

/// Record a finding of the final verification or an on-site verification.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordFindingRequest {
    pub kind: FindingKindDto,
    /// The requirement the finding concerns, if one.
    #[schema(example = "JHV-030", pattern = "^[A-Z][A-Z0-9.-]*$", max_length = 32)]
    pub requirement: Option<String>,
    #[schema(
        example = "The network cabinet in the corridor is not locked.",
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$",
        min_length = 1,
        max_length = 4000
    )]
    pub description: String,
    /// When it must be done.
    #[schema(example = "2026-06-01")]
    pub due: Option<NaiveDate>,
}

impl CaseCommandRequest for RecordFindingRequest {
    fn into_command(self, _: &Conversion<'_>) -> Result<CaseCommand, ApiError> {
        let mut f = Fields::default();
        let requirement = f.take_opt(
            "requirement",
            self.requirement.as_deref().map(RequirementId::parse),
        );
        let description = long(&mut f, "description", &self.description);
        all_fields!(f; requirement, description);
        Ok(CaseCommand::RecordFinding(RecordFinding {
            kind: self.kind.into(),
            requirement,
            description,
            due: self.due,
        }))
    }
}

/// Resolve a finding.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveFindingRequest {
    /// The finding's number in the case.
    #[schema(example = 1)]
    #[serde(deserialize_with = "super::whole_u32")]
    pub finding: u32,
    #[schema(
        example = "A lock was fitted to the cabinet on 2026-05-20; photo in the case file.",
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$",
        min_length = 1,
        max_length = 4000
    )]
    pub resolution: String,
}

/// Require attestation to a newer catalogue version by a date.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequireAttestationRequest {
    /// The catalogue version, newer than the one the case is held to.
    #[schema(example = 2)]
    #[serde(deserialize_with = "super::whole_u32")]
    pub version: u32,
    /// The date by which the provider must attest; not in the past, not before the version
    /// takes effect.
    #[schema(example = "2026-09-30")]
    pub due: NaiveDate,
    #[schema(
        example = "Version 2 of the appendix applies to every connected unit.",
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$",
        min_length = 1,
        max_length = 4000
    )]
    pub reason: String,
}

impl CaseCommandRequest for RequireAttestationRequest {
    fn into_command(self, _: &Conversion<'_>) -> Result<CaseCommand, ApiError> {
        let mut f = Fields::default();
        let reason = long(&mut f, "reason", &self.reason);
        all_fields!(f; reason);
        Ok(CaseCommand::RequireAttestation(RequireAttestation {
            version: self.version,
            due: self.due,
            reason,
        }))
    }
}

/// The provider's remediation of a finding.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RespondToFindingRequest {
    /// The finding's number in the case.
    #[schema(example = 1)]
    #[serde(deserialize_with = "super::whole_u32")]
    pub finding: u32,
    #[schema(
        example = "A lock was fitted to the cabinet on 2026-05-20.",
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$",
        min_length = 1,
        max_length = 4000
    )]
    pub remediation: String,
    /// References to evidence.
    #[serde(default)]
    #[schema(schema_with = super::short_text_list, example = json!(["Photo 2026-05-20, case file"]))]
    pub evidence: Vec<String>,
}

impl CaseCommandRequest for RespondToFindingRequest {
    fn into_command(self, _: &Conversion<'_>) -> Result<CaseCommand, ApiError> {
        let mut f = Fields::default();
        let remediation = long(&mut f, "remediation", &self.remediation);
        let evidence: Vec<_> = self
            .evidence
            .iter()
            .enumerate()
            .map(|(i, e)| short(&mut f, &format!("evidence[{i}]"), e))
            .collect();
        all_fields!(f; remediation);
        Ok(CaseCommand::RespondToFinding(RespondToFinding {
            finding: FindingNo::new(self.finding),
            remediation,
            evidence: evidence.into_iter().flatten().collect(),
        }))
    }
}

/// The region rejects the provider's remediation of a finding.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectFindingResponseRequest {
    #[schema(example = 1)]
    #[serde(deserialize_with = "super::whole_u32")]
    pub finding: u32,
    #[schema(
        example = "The photo shows a different cabinet.",
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$",
        min_length = 1,
        max_length = 4000
    )]
    pub reason: String,
}

impl CaseCommandRequest for RejectFindingResponseRequest {
    fn into_command(self, _: &Conversion<'_>) -> Result<CaseCommand, ApiError> {
        let mut f = Fields::default();
        let reason = long(&mut f, "reason", &self.reason);
        all_fields!(f; reason);
        Ok(CaseCommand::RejectFindingResponse(RejectFindingResponse {
            finding: FindingNo::new(self.finding),
            reason,
        }))
    }
}

impl CaseCommandRequest for ResolveFindingRequest {
    fn into_command(self, _: &Conversion<'_>) -> Result<CaseCommand, ApiError> {
        let mut f = Fields::default();
        let resolution = long(&mut f, "resolution", &self.resolution);
        all_fields!(f; resolution);
        Ok(CaseCommand::ResolveFinding(ResolveFinding {
            finding: FindingNo::new(self.finding),
            resolution,
        }))
    }
}

/// An organisational change.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum OrganisationalChangeRequest {
    NewUnit {
        #[schema(
            example = "Östersundshälsan Barnmottagning",
            pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$",
            min_length = 1,
            max_length = 200
        )]
        name: String,
    },
    UnitRemoved {
        #[schema(
            example = "Östersundshälsan Filial Brunflo",
            pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$",
            min_length = 1,
            max_length = 200
        )]
        name: String,
    },
    NameChanged {
        #[schema(
            example = "Östersundshälsan Vårdcentral Centrum",
            pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$",
            min_length = 1,
            max_length = 200
        )]
        new_name: String,
    },
    Moved {
        #[schema(
            example = "Prästgatan 12, 831 31 Östersund",
            pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$",
            min_length = 1,
            max_length = 200
        )]
        new_address: String,
    },
    /// A change to the premises short of a move.
    PremisesChanged {
        #[schema(
            example = "The reception moves to the ground floor; two workstations move with it."
        )]
        #[schema(
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$",
            min_length = 1,
            max_length = 4000
        )]
        description: String,
    },
    /// A new head of unit (verksamhetschef): personal data.
    NewHeadOfUnit {
        #[schema(
            example = "Anna Berg",
            pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$",
            min_length = 1,
            max_length = 200
        )]
        name: String,
        #[schema(
            example = "anna.berg@ostersundshalsan.se",
            pattern = "^[!-?A-~]+@[-!-,/-?A-~][!-?A-~]*[.][!-?A-~]*[-!-,/-?A-~]$",
            max_length = 254
        )]
        email: String,
        #[schema(example = "+46 63 14 20 10", pattern = r"^\+?[0-9]([ -]*[0-9]){4,19}$")]
        phone: Option<String>,
    },
}

/// Report an organisational change, in good time before it takes effect.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportOrganisationalChangeRequest {
    pub change: OrganisationalChangeRequest,
    #[schema(example = "2026-09-01")]
    pub effective_on: NaiveDate,
    #[schema(
        example = "The unit takes its new name when the new premises open.",
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$",
        min_length = 1,
        max_length = 4000
    )]
    pub description: Option<String>,
}

impl CaseCommandRequest for ReportOrganisationalChangeRequest {
    fn into_command(self, conversion: &Conversion<'_>) -> Result<CaseCommand, ApiError> {
        let mut f = Fields::default();
        let change = match &self.change {
            OrganisationalChangeRequest::NewUnit { name } => short(&mut f, "change.name", name)
                .map(|name| OrganisationalChange::NewUnit { name }),
            OrganisationalChangeRequest::UnitRemoved { name } => short(&mut f, "change.name", name)
                .map(|name| OrganisationalChange::UnitRemoved { name }),
            OrganisationalChangeRequest::NameChanged { new_name } => {
                short(&mut f, "change.new_name", new_name)
                    .map(|new_name| OrganisationalChange::NameChanged { new_name })
            }
            OrganisationalChangeRequest::Moved { new_address } => {
                short(&mut f, "change.new_address", new_address)
                    .map(|new_address| OrganisationalChange::Moved { new_address })
            }
            OrganisationalChangeRequest::PremisesChanged { description } => {
                long(&mut f, "change.description", description)
                    .map(|description| OrganisationalChange::PremisesChanged { description })
            }
            OrganisationalChangeRequest::NewHeadOfUnit { name, email, phone } => {
                parse_person(&mut f, "change", name, email, phone.as_deref()).map(|details| {
                    OrganisationalChange::NewHeadOfUnit {
                        person: Personal::new(conversion.subjects.contact(), details),
                    }
                })
            }
        };
        let description = long_opt(&mut f, "description", self.description.as_ref());
        all_fields!(f; change, description);
        Ok(CaseCommand::ReportOrganisationalChange(
            ReportOrganisationalChange {
                change,
                effective_on: self.effective_on,
                description,
            },
        ))
    }
}

/// Ask to use a service outside the region's delivery.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestNonStandardServiceRequest {
    #[schema(
        example = "Digital waiting-room screen from Kiosk AB",
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$",
        min_length = 1,
        max_length = 200
    )]
    pub service: String,
    #[schema(
        example = "Patients are called by number; the region's Väntrums-TV has no call function."
    )]
    #[schema(
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$",
        min_length = 1,
        max_length = 4000
    )]
    pub justification: String,
    /// When the provider wishes to introduce it; not in the past.
    #[schema(example = "2026-11-01")]
    pub desired_on: Option<NaiveDate>,
    /// The solution, as to function and technology (Värmland §2).
    #[schema(
        example = "A 43-inch screen on its own 4G router, no connection to the unit's network."
    )]
    #[schema(
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$",
        min_length = 1,
        max_length = 4000
    )]
    pub function_and_technology: Option<String>,
}

impl CaseCommandRequest for RequestNonStandardServiceRequest {
    fn into_command(self, _: &Conversion<'_>) -> Result<CaseCommand, ApiError> {
        let mut f = Fields::default();
        let service = short(&mut f, "service", &self.service);
        let justification = long(&mut f, "justification", &self.justification);
        let function_and_technology = long_opt(
            &mut f,
            "function_and_technology",
            self.function_and_technology.as_ref(),
        );
        all_fields!(f; service, justification, function_and_technology);
        Ok(CaseCommand::RequestNonStandardService(
            RequestNonStandardService {
                service,
                justification,
                desired_on: self.desired_on,
                function_and_technology,
            },
        ))
    }
}

/// The provider's workstations from a date.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeWorkstationsRequest {
    /// The workstations registered from `effective_on`; at least one.
    #[schema(example = 14)]
    #[serde(deserialize_with = "super::whole_u32")]
    pub workstations: u32,
    #[schema(example = "2026-10-01")]
    pub effective_on: NaiveDate,
}

impl CaseCommandRequest for ChangeWorkstationsRequest {
    fn into_command(self, _: &Conversion<'_>) -> Result<CaseCommand, ApiError> {
        Ok(CaseCommand::ChangeWorkstations(ChangeWorkstations {
            workstations: self.workstations,
            effective_on: self.effective_on,
        }))
    }
}

/// A named contact replaced for its role: personal data.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateContactRequest {
    pub contact: ContactRequest,
}

impl CaseCommandRequest for UpdateContactRequest {
    fn into_command(self, conversion: &Conversion<'_>) -> Result<CaseCommand, ApiError> {
        let mut f = Fields::default();
        let c = &self.contact;
        let details = parse_person(&mut f, "contact", &c.name, &c.email, c.phone.as_deref());
        all_fields!(f; details);
        Ok(CaseCommand::UpdateContact(UpdateContact {
            contact: NamedContact {
                role: c.role.into(),
                person: Personal::new(conversion.subjects.contact(), details),
            },
        }))
    }
}

/// The region's decision on a non-standard service.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ServiceDecisionDto {
    Approved,
    Rejected,
}

/// Decide on a request for a non-standard service.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecideNonStandardServiceRequest {
    /// The request's number in the case.
    #[schema(example = 1)]
    #[serde(deserialize_with = "super::whole_u32")]
    pub request: u32,
    pub decision: ServiceDecisionDto,
    #[schema(
        example = "The screen runs on its own network, separated from the region's.",
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$",
        min_length = 1,
        max_length = 4000
    )]
    pub reason: String,
}

impl CaseCommandRequest for DecideNonStandardServiceRequest {
    fn into_command(self, _: &Conversion<'_>) -> Result<CaseCommand, ApiError> {
        let mut f = Fields::default();
        let reason = long(&mut f, "reason", &self.reason);
        all_fields!(f; reason);
        Ok(CaseCommand::DecideNonStandardService(
            DecideNonStandardService {
                request: ServiceRequestNo::new(self.request),
                decision: match self.decision {
                    ServiceDecisionDto::Approved => ServiceDecision::Approved,
                    ServiceDecisionDto::Rejected => ServiceDecision::Rejected,
                },
                reason,
            },
        ))
    }
}

/// Attest to a newer catalogue version, answering every added or materially changed
/// requirement.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttestCatalogueVersionRequest {
    /// The version attested to.
    #[schema(example = 2)]
    #[serde(deserialize_with = "super::whole_u32")]
    pub version: u32,
    pub answers: Vec<AnswerRequest>,
}

impl CaseCommandRequest for AttestCatalogueVersionRequest {
    fn into_command(self, _: &Conversion<'_>) -> Result<CaseCommand, ApiError> {
        let mut f = Fields::default();
        let answers = answers(&mut f, "answers", &self.answers);
        if !f.is_empty() {
            return Err(f.error());
        }
        Ok(CaseCommand::AttestCatalogueVersion(
            AttestCatalogueVersion {
                version: self.version,
                answers,
            },
        ))
    }
}

/// Why a connection ends.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum EndingRequest {
    /// The contract ran out or was terminated.
    ContractEnded,
    /// The provider was replaced; the successor's organisationsnummer, when known.
    ProviderReplaced {
        #[schema(
            example = "556677-8899",
            format = "organisationsnummer",
            pattern = "^(16)?[0-9]{2}[2-9][0-9]{3}-?[0-9]{4}$"
        )]
        successor: Option<String>,
    },
    /// The provider withdrew before going live.
    Withdrawn,
}

/// End the connection.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndConnectionRequest {
    pub ending: EndingRequest,
    /// The last day of the connection; not in the future.
    #[schema(example = "2026-12-31")]
    pub ended_on: NaiveDate,
    #[schema(
        example = "The Hälsoval contract ended at the provider's request.",
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$",
        min_length = 1,
        max_length = 4000
    )]
    pub reason: String,
}

impl CaseCommandRequest for EndConnectionRequest {
    fn into_command(self, _: &Conversion<'_>) -> Result<CaseCommand, ApiError> {
        let mut f = Fields::default();
        let ending = match &self.ending {
            EndingRequest::ContractEnded => Some(Ending::ContractEnded),
            EndingRequest::Withdrawn => Some(Ending::Withdrawn),
            EndingRequest::ProviderReplaced { successor } => f
                .take_opt(
                    "ending.successor",
                    successor
                        .as_deref()
                        .map(|raw| OrgNumber::parse(raw).map_err(|e| identity_message(&e))),
                )
                .map(|successor| Ending::ProviderReplaced { successor }),
        };
        let reason = long(&mut f, "reason", &self.reason);
        all_fields!(f; ending, reason);
        Ok(CaseCommand::EndConnection(EndConnection {
            ending,
            ended_on: self.ended_on,
            reason,
        }))
    }
}
