use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::case::CommitmentKind;
use crate::catalogue::LeadTimeKind;
use crate::ids::{IdError, ProgrammeId, RequirementId, ServicePackageId};

/// One programme version's process: the steps its source document names, in order, which
/// of them gate go-live and on what words, which are conditional, the lead time, and the
/// duties of the operating phase. Every step, gate, condition, recurrence, lead time and duty
/// quotes its source document verbatim (checked by the traceability test).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessDefinition {
    pub programme: ProgrammeId,
    /// Equal to the version of the catalogue it belongs to: one process per catalogue
    /// version, from the same document.
    pub version: u32,
    pub source: ProcessSource,
    /// The steps, in the order the case goes through them.
    pub steps: Vec<Step>,
    /// The step kinds the document does not name, each with a sentence saying so. Every
    /// [`StepKind`] is either a step or a silence, never both.
    #[serde(default)]
    pub silent: Vec<Silence>,
    /// The lead time as the document words it; absent where the document gives none.
    pub lead_time: Option<LeadTimeRule>,
    /// What the parties must do, or may do, once the unit is running.
    #[serde(default)]
    pub duties: Vec<Duty>,
    /// Readings of the document that were not obvious, for the reviewer.
    #[serde(default)]
    pub notes: Vec<String>,
    /// SHA-256 of the process file, lowercase hex; set by the loader, never in the file.
    #[serde(default, skip_deserializing)]
    pub digest: String,
}

impl ProcessDefinition {
    /// The reference events can record when a case is held to this process version.
    pub fn reference(&self) -> ProcessRef {
        ProcessRef {
            programme: self.programme.clone(),
            version: self.version,
            digest: self.digest.clone(),
        }
    }

    pub fn step(&self, id: &StepId) -> Option<&Step> {
        self.steps.iter().find(|s| &s.id == id)
    }

    /// The steps of one kind, in order.
    pub fn steps_of(&self, kind: StepKind) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(move |s| s.kind == kind)
    }

    pub fn has(&self, kind: StepKind) -> bool {
        self.steps_of(kind).next().is_some()
    }

    /// The steps that must be done before go-live (when their condition holds).
    pub fn gating_steps(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(|s| s.gate.is_some())
    }

    /// The kinds of the steps, in order, each once.
    pub fn kinds(&self) -> Vec<StepKind> {
        let mut kinds: Vec<StepKind> = Vec::new();
        for s in &self.steps {
            if !kinds.contains(&s.kind) {
                kinds.push(s.kind);
            }
        }
        kinds
    }

    pub fn silence(&self, kind: StepKind) -> Option<&Silence> {
        self.silent.iter().find(|s| s.step == kind)
    }
}

/// Which process version a case is held to, with the digest of the file that applied.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProcessRef {
    pub programme: ProgrammeId,
    pub version: u32,
    pub digest: String,
}

impl fmt::Display for ProcessRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} process v{}", self.programme, self.version)
    }
}

/// The document a process was taken from: the same as its catalogue's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessSource {
    /// The file name under the seeds directory, e.g. `003_f25002e326188b9a.txt`.
    pub file: String,
}

/// The id of a step within its definition, e.g. `it-anslutningsavtal`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct StepId(String);

impl StepId {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let invalid = |reason| IdError::Invalid {
            kind: "step id",
            reason,
        };
        if raw.is_empty() || raw.len() > 64 {
            return Err(invalid("must be 1 to 64 characters"));
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(invalid(
                "only lowercase letters a-z, digits and '-' are allowed",
            ));
        }
        if raw.starts_with('-') || raw.ends_with('-') || raw.contains("--") {
            return Err(invalid("'-' only between words"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StepId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for StepId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StepId({})", self.0)
    }
}

impl<'de> Deserialize<'de> for StepId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// The kinds of step a process can have. A definition names only those its document names;
/// the others are listed as silences. An unknown kind in a file is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// The provider applies or orders (ansökan, beställning).
    Application,
    /// The contract between region and provider (kontrakt, vårdavtal).
    Contract,
    /// An agreement the programme demands, other than the contract (anslutningsavtal,
    /// personuppgiftsbiträdesavtal, särskilt avtal, ...). There may be several.
    Agreement,
    /// A plan the region and the provider draw up and record (gemensam plan, aktivitetsplan).
    Plan,
    /// The provider's answer to the requirement catalogue (självdeklaration).
    SelfDeclaration,
    /// Training named by the document (introduktionsutbildning, webbaserad utbildning).
    Training,
    /// Commitments each user signs (ansvarsförbindelse, sekretesserinran).
    StaffCommitments,
    /// A technical check the region makes (e.g. of the provider's own computer).
    TechnicalCheck,
    /// The region's final verification before start (slutverifiering).
    FinalVerification,
    /// The final contract signed with an approved final verification (slutligt avtal).
    FinalContract,
    /// The start of operation (driftstart, uppstart, start).
    GoLive,
}

impl StepKind {
    /// Every kind, in the order a process usually takes them.
    pub const ALL: [Self; 11] = [
        Self::Application,
        Self::Contract,
        Self::Agreement,
        Self::Plan,
        Self::SelfDeclaration,
        Self::Training,
        Self::StaffCommitments,
        Self::TechnicalCheck,
        Self::FinalVerification,
        Self::FinalContract,
        Self::GoLive,
    ];

    /// The name used in the files, e.g. `final_verification`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Application => "application",
            Self::Contract => "contract",
            Self::Agreement => "agreement",
            Self::Plan => "plan",
            Self::SelfDeclaration => "self_declaration",
            Self::Training => "training",
            Self::StaffCommitments => "staff_commitments",
            Self::TechnicalCheck => "technical_check",
            Self::FinalVerification => "final_verification",
            Self::FinalContract => "final_contract",
            Self::GoLive => "go_live",
        }
    }

    /// A kind that may occur more than once in a definition.
    pub const fn repeatable(self) -> bool {
        matches!(self, Self::Agreement | Self::Plan | Self::TechnicalCheck)
    }

    /// A step of this kind produces a document (signed or recorded), which must be named.
    pub const fn has_document(self) -> bool {
        matches!(
            self,
            Self::Contract
                | Self::Agreement
                | Self::Plan
                | Self::StaffCommitments
                | Self::FinalContract
        )
    }

    /// The document of a step of this kind is signed (not only recorded).
    pub const fn signed(self) -> bool {
        matches!(
            self,
            Self::Contract | Self::Agreement | Self::StaffCommitments | Self::FinalContract
        )
    }
}

impl fmt::Display for StepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One step of a process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub id: StepId,
    pub kind: StepKind,
    /// The step's name in the document's words, e.g. "Slutligt avtalstecknande".
    pub name: String,
    /// The step in English, in a sentence.
    pub summary: String,
    /// The section of the source document, e.g. "3.10".
    pub section: String,
    /// Verbatim words of the document naming the step (whitespace-normalised).
    pub quote: String,
    /// Whether the document names this step itself, or the step is how Anslut records
    /// what the document demands (then `note` says how).
    #[serde(default)]
    pub origin: StepOrigin,
    pub note: Option<String>,
    /// The catalogue requirements this step discharges; each must exist in the catalogue of
    /// the same version, and appear in one step only.
    #[serde(default)]
    pub requirements: Vec<RequirementId>,
    /// The document the step produces, as the source names it; required for contracts,
    /// agreements, plans, staff commitments and the final contract.
    pub document: Option<String>,
    #[serde(default)]
    pub scope: StepScope,
    /// For a staff-commitments step: the commitments each user signs (the document's form
    /// may hold more than one, e.g. Dalarna BUP's "Sekretesserinran och
    /// IT-ansvarsförbindelse"). Empty for every other kind.
    #[serde(default)]
    pub commitments: Vec<CommitmentKind>,
    /// Steps that must come first, by the document's words (each listed earlier).
    #[serde(default)]
    pub after: Vec<StepId>,
    /// Present when the step must be done before go-live.
    pub gate: Option<Gate>,
    /// Present when the step exists only in some cases.
    pub condition: Option<Condition>,
    /// Present when the step is repeated during operation.
    pub recurrence: Option<Recurrence>,
}

impl Step {
    /// The signed document this step produces, if any.
    pub fn signed_document(&self) -> Option<&str> {
        self.document.as_deref().filter(|_| self.kind.signed())
    }
}

/// Who names a step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepOrigin {
    /// The document names the step.
    #[default]
    Document,
    /// The document does not name a step, but what it quotes must be recorded somehow and
    /// this is Anslut's way of recording it (e.g. answering the catalogue as a
    /// self-declaration where the document has none). The step's note says so.
    Anslut,
}

/// Whom a step is done for, once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepScope {
    /// Once for the case.
    #[default]
    Case,
    /// Once for every user of the provider (staff commitments).
    PerUser,
    /// Once for every computer that connects (Värmland Fysioterapi's check).
    PerComputer,
}

/// Why a step must be done before go-live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gate {
    pub basis: GateBasis,
    pub section: String,
    /// The words that place the step before start (`stated`) or make it a must (`implied`).
    pub quote: String,
    pub note: Option<String>,
}

/// How the document puts a step before go-live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateBasis {
    /// The quoted words place the step before start or before access ("inför driftstarten",
    /// "För åtkomst ... krävs", "i samband med nyetablering").
    Stated,
    /// The quoted words make the step a must but say nothing of when; it gates go-live
    /// because go-live is the last moment the region can hold the provider to it before
    /// the unit uses the region's IT. The gate's note says why.
    Implied,
}

/// When a conditional step exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub on: ConditionKind,
    /// For `service_package`: the optional package of the catalogue the step depends on.
    pub package: Option<ServicePackageId>,
    /// For `system_connected`: the system as the document names it.
    pub system: Option<String>,
    pub section: String,
    pub quote: String,
    pub note: Option<String>,
}

/// What a conditional step depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConditionKind {
    /// The application chose an optional service package.
    ServicePackage,
    /// The unit is connected to a named system.
    SystemConnected,
    /// The document says "if required" ("om så krävs", "i förekommande fall", "kan det
    /// behövas") without saying who decides; the region records whether it applies.
    WhereRequired,
}

/// A step repeated during operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recurrence {
    pub on: RecurrenceKind,
    pub section: String,
    pub quote: String,
}

/// What repeats a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecurrenceKind {
    /// Every new hire ("vid nyanställning").
    NewHire,
}

/// A step kind the document does not name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Silence {
    pub step: StepKind,
    /// What the document says instead, or that it says nothing.
    pub note: String,
}

/// The lead time as the document words it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeadTimeRule {
    pub months: u32,
    /// `minimum` ("minst"): a duration the start cannot precede; `approximate` ("ca"): a
    /// benchmark ("Riktmärke").
    pub kind: LeadTimeKind,
    /// The words that qualify the figure ("minst", "ca"); must occur in the quote.
    pub words: String,
    pub section: String,
    pub quote: String,
    pub note: Option<String>,
}

/// One duty (or right) of the operating phase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Duty {
    pub id: StepId,
    pub kind: DutyKind,
    /// Who must (or may) act.
    pub party: DutyParty,
    pub summary: String,
    pub section: String,
    pub quote: String,
    /// The document's timeliness words, when it gives any.
    pub timeliness: Option<Timeliness>,
    /// Where the report, notice or request goes, when the document names it.
    pub channel: Option<Channel>,
    #[serde(default)]
    pub requirements: Vec<RequirementId>,
    pub note: Option<String>,
}

/// What an operating-phase duty is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DutyKind {
    /// Reporting a security incident.
    SecurityIncident,
    /// Reporting faults and asking for support.
    FaultReport,
    /// Reporting an organisational change (new or removed unit, name, move, head of unit).
    OrganisationalChange,
    /// Updating the HSA catalogue's entries.
    HsaUpdate,
    /// Informing the region of changes to the premises.
    PremisesChange,
    /// Asking before using a service or product outside the region's delivery.
    NonStandardRequest,
    /// Keeping the region's contact information current.
    ContactUpdate,
    /// Keeping the staff directory current (on- and off-boarding).
    StaffDirectory,
    /// Keeping within the registered workstations.
    WorkstationRegistration,
    /// The region's checking of security requirements on site.
    OnSiteVerification,
    /// The region's notices to the provider (e.g. planned outages, late deliveries).
    RegionNotice,
    /// Applying security updates.
    SecurityUpdates,
}

/// Who holds an operating-phase duty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DutyParty {
    Provider,
    Region,
}

/// A timeliness rule in the document's words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeliness {
    pub kind: TimelinessKind,
    /// The words as the document writes them, e.g. "i god tid"; must occur in the quote.
    pub words: String,
}

/// The timeliness words the documents use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimelinessKind {
    /// "i god tid": ahead of the change, with no figure.
    InGoodTime,
    /// "snarast", "snarast möjligt", "så fort det är möjligt": as soon as possible after it.
    AsSoonAsPossible,
    /// "omgående": at once.
    Immediately,
}

impl TimelinessKind {
    /// The Swedish stems that a wording of this kind must contain.
    pub const fn stems(self) -> &'static [&'static str] {
        match self {
            Self::InGoodTime => &["i god tid"],
            Self::AsSoonAsPossible => &["snarast", "så fort det är möjligt"],
            Self::Immediately => &["omgående"],
        }
    }
}

/// Where a duty's report, notice or request goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Channel {
    /// The channel as the document names it, e.g. "helpdesk@regionjh.se"; must occur in
    /// the quote.
    pub name: String,
    pub section: String,
    pub quote: String,
}
