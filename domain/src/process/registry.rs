use std::collections::BTreeSet;

use super::model::{
    ConditionKind, GateBasis, ProcessDefinition, RecurrenceKind, Step, StepKind, StepOrigin,
    StepScope,
};
use crate::catalogue::{Catalogue, CatalogueRegistry, Evidence};
use crate::ids::ProgrammeId;

/// The process files compiled into the binary, by file name: one per catalogue version.
const EMBEDDED: &[(&str, &str)] = &[
    (
        "dalarna-bup-v1.toml",
        include_str!("../../processes/dalarna-bup-v1.toml"),
    ),
    (
        "dalarna-bup-v2.toml",
        include_str!("../../processes/dalarna-bup-v2.toml"),
    ),
    (
        "dalarna-halsoval-v1.toml",
        include_str!("../../processes/dalarna-halsoval-v1.toml"),
    ),
    (
        "jamtland-halsoval-v1.toml",
        include_str!("../../processes/jamtland-halsoval-v1.toml"),
    ),
    (
        "varmland-vardcentral-v1.toml",
        include_str!("../../processes/varmland-vardcentral-v1.toml"),
    ),
    (
        "varmland-fysioterapi-v1.toml",
        include_str!("../../processes/varmland-fysioterapi-v1.toml"),
    ),
];

/// Why a set of process files was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcessError {
    #[error("{file}: not a valid process definition: {message}")]
    Parse { file: String, message: String },
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    #[error("catalogue {programme} v{version} has no process definition")]
    Missing { programme: String, version: u32 },
}

/// Every process definition the system knows, validated against the catalogues.
#[derive(Debug, Clone)]
pub struct ProcessRegistry {
    /// Sorted by programme, then version.
    definitions: Vec<ProcessDefinition>,
}

impl ProcessRegistry {
    /// Loads and validates the process files compiled into the binary against the
    /// catalogues they belong to.
    pub fn load_embedded(catalogues: &CatalogueRegistry) -> Result<Self, ProcessError> {
        Self::from_sources(EMBEDDED.iter().copied(), catalogues)
    }

    /// The names of the embedded process files.
    pub fn embedded_files() -> impl Iterator<Item = &'static str> {
        EMBEDDED.iter().map(|(name, _)| *name)
    }

    /// Loads and validates definitions from `(file name, TOML text)` pairs. Each must belong
    /// to a catalogue version of `catalogues`, and every catalogue version must have exactly
    /// one definition.
    pub fn from_sources<'a>(
        sources: impl IntoIterator<Item = (&'a str, &'a str)>,
        catalogues: &CatalogueRegistry,
    ) -> Result<Self, ProcessError> {
        let mut definitions: Vec<ProcessDefinition> = Vec::new();
        for (file, text) in sources {
            let mut definition: ProcessDefinition =
                toml::from_str(text).map_err(|e| ProcessError::Parse {
                    file: file.to_owned(),
                    message: e.to_string(),
                })?;
            definition.digest = crate::catalogue::sha256_hex(text.as_bytes());
            let invalid = |message: String| ProcessError::Invalid {
                file: file.to_owned(),
                message,
            };
            let catalogue = catalogues
                .get(&definition.programme, definition.version)
                .ok_or_else(|| {
                    invalid(format!(
                        "there is no catalogue {} v{} for this process to belong to",
                        definition.programme, definition.version
                    ))
                })?;
            if definitions
                .iter()
                .any(|d| d.programme == definition.programme && d.version == definition.version)
            {
                return Err(invalid(format!(
                    "{} v{} has a process definition already",
                    definition.programme, definition.version
                )));
            }
            validate(&definition, catalogue).map_err(invalid)?;
            definitions.push(definition);
        }
        for catalogue in catalogues.all() {
            if !definitions
                .iter()
                .any(|d| d.programme == catalogue.programme && d.version == catalogue.version)
            {
                return Err(ProcessError::Missing {
                    programme: catalogue.programme.to_string(),
                    version: catalogue.version,
                });
            }
        }
        definitions.sort_by(|a, b| (&a.programme, a.version).cmp(&(&b.programme, b.version)));
        Ok(Self { definitions })
    }

    /// Every definition, by programme then version.
    pub fn all(&self) -> &[ProcessDefinition] {
        &self.definitions
    }

    pub fn get(&self, programme: &ProgrammeId, version: u32) -> Option<&ProcessDefinition> {
        self.definitions
            .iter()
            .find(|d| &d.programme == programme && d.version == version)
    }

    /// The process that belongs to a catalogue version.
    pub fn for_catalogue(&self, catalogue: &Catalogue) -> Option<&ProcessDefinition> {
        self.get(&catalogue.programme, catalogue.version)
    }
}

fn normalise(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn contains_words(quote: &str, words: &str) -> bool {
    normalise(quote)
        .to_lowercase()
        .contains(&normalise(words).to_lowercase())
}

fn non_empty(what: &str, value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        Err(format!("{what} is empty"))
    } else {
        Ok(())
    }
}

fn validate(d: &ProcessDefinition, catalogue: &Catalogue) -> Result<(), String> {
    if d.source.file != catalogue.source.file {
        return Err(format!(
            "the process cites {} but its catalogue comes from {}",
            d.source.file, catalogue.source.file
        ));
    }
    validate_order(d)?;
    let mut step_ids = BTreeSet::new();
    let mut cited = BTreeSet::new();
    for step in &d.steps {
        if !step_ids.insert(&step.id) {
            return Err(format!("step {} appears twice", step.id));
        }
        for before in &step.after {
            if !step_ids.contains(before) || before == &step.id {
                return Err(format!(
                    "step {} comes after {before}, which is not an earlier step",
                    step.id
                ));
            }
        }
        validate_step(step, catalogue)?;
        for r in &step.requirements {
            if !cited.insert(r) {
                return Err(format!("requirement {r} is cited by more than one step"));
            }
        }
    }
    validate_silences(d)?;
    // Nothing the catalogue shows by a signed document may be left out of the process.
    for r in &catalogue.requirements {
        if r.evidence == Evidence::SignedDocument && !cited.contains(&r.id) {
            return Err(format!(
                "requirement {} is shown by a signed document but no step cites it",
                r.id
            ));
        }
    }
    validate_lead_time(d, catalogue)?;
    validate_duties(d, catalogue)?;
    for note in &d.notes {
        non_empty("a note", note)?;
    }
    Ok(())
}

/// Application first, go-live last, each once; the final contract after the final
/// verification; single kinds once.
fn validate_order(d: &ProcessDefinition) -> Result<(), String> {
    let first = d.steps.first().map(|s| s.kind);
    let last = d.steps.last().map(|s| s.kind);
    if first != Some(StepKind::Application) {
        return Err("the first step must be the application".into());
    }
    if last != Some(StepKind::GoLive) {
        return Err("the last step must be go-live".into());
    }
    for kind in StepKind::ALL {
        if !kind.repeatable() && d.steps_of(kind).count() > 1 {
            return Err(format!("there can be only one {kind} step"));
        }
    }
    let position = |kind| d.steps.iter().position(|s| s.kind == kind);
    if let Some(final_contract) = position(StepKind::FinalContract) {
        match position(StepKind::FinalVerification) {
            Some(verification) if verification < final_contract => {}
            _ => {
                return Err(
                    "a final contract needs a final verification before it in the same process"
                        .into(),
                );
            }
        }
    }
    Ok(())
}

fn validate_step(step: &Step, catalogue: &Catalogue) -> Result<(), String> {
    let id = &step.id;
    for (field, value) in [
        ("name", &step.name),
        ("summary", &step.summary),
        ("section", &step.section),
        ("quote", &step.quote),
    ] {
        non_empty(&format!("step {id}'s {field}"), value)?;
    }
    if step.origin == StepOrigin::Anslut && step.note.as_deref().is_none_or(str::is_empty) {
        return Err(format!(
            "step {id} is Anslut's, not the document's, and needs a note saying why"
        ));
    }
    for r in &step.requirements {
        if catalogue.requirement(r).is_none() {
            return Err(format!(
                "step {id} cites requirement {r}, which catalogue {} v{} does not have",
                catalogue.programme, catalogue.version
            ));
        }
    }
    match (&step.document, step.kind.has_document()) {
        (None, true) => {
            return Err(format!(
                "step {id} is a {} and must name its document",
                step.kind
            ));
        }
        (Some(_), false) => {
            return Err(format!(
                "step {id} is a {} and produces no document",
                step.kind
            ));
        }
        (Some(doc), true) => non_empty(&format!("step {id}'s document"), doc)?,
        (None, false) => {}
    }
    match (step.scope, step.kind) {
        (StepScope::Case, _)
        | (StepScope::PerUser, StepKind::StaffCommitments)
        | (StepScope::PerComputer, StepKind::TechnicalCheck) => {}
        (scope, kind) => {
            return Err(format!(
                "step {id}: a {kind} step cannot be done {scope:?} (per user is for staff commitments, per computer for technical checks)"
            ));
        }
    }
    match (step.kind, step.commitments.is_empty()) {
        (StepKind::StaffCommitments, true) => {
            return Err(format!(
                "step {id} is a staff-commitments step and must name the commitments each user signs"
            ));
        }
        (kind, false) if kind != StepKind::StaffCommitments => {
            return Err(format!(
                "step {id} is a {kind}: only staff-commitments steps name commitments"
            ));
        }
        _ => {}
    }
    if step.kind == StepKind::GoLive && (step.gate.is_some() || step.condition.is_some()) {
        return Err("go-live is the gate; it has no gate or condition of its own".into());
    }
    if matches!(step.kind, StepKind::Application) && step.condition.is_some() {
        return Err("the application cannot be conditional".into());
    }
    if let Some(gate) = &step.gate {
        non_empty(&format!("step {id}'s gate section"), &gate.section)?;
        non_empty(&format!("step {id}'s gate quote"), &gate.quote)?;
        if gate.basis == GateBasis::Implied && gate.note.as_deref().is_none_or(str::is_empty) {
            return Err(format!(
                "step {id}'s gate is implied and needs a note saying why it gates go-live"
            ));
        }
    }
    if let Some(condition) = &step.condition {
        non_empty(
            &format!("step {id}'s condition section"),
            &condition.section,
        )?;
        non_empty(&format!("step {id}'s condition quote"), &condition.quote)?;
        match (condition.on, &condition.package, &condition.system) {
            (ConditionKind::ServicePackage, Some(package), None) => {
                let Some(p) = catalogue.service_package(package) else {
                    return Err(format!(
                        "step {id} depends on service package {package}, which the catalogue does not offer"
                    ));
                };
                if p.mandatory {
                    return Err(format!(
                        "step {id} depends on service package {package}, which is mandatory: the condition always holds"
                    ));
                }
            }
            (ConditionKind::SystemConnected, None, Some(system)) => {
                non_empty(&format!("step {id}'s condition system"), system)?;
                if !contains_words(&condition.quote, system) {
                    return Err(format!(
                        "step {id}'s condition names system {system:?}, which its quote does not"
                    ));
                }
            }
            (ConditionKind::WhereRequired, None, None) => {}
            (on, _, _) => {
                return Err(format!(
                    "step {id}'s condition on {on:?} needs exactly {}",
                    match on {
                        ConditionKind::ServicePackage => "a package and no system",
                        ConditionKind::SystemConnected => "a system and no package",
                        ConditionKind::WhereRequired => "no package and no system",
                    }
                ));
            }
        }
    }
    if let Some(recurrence) = &step.recurrence {
        let RecurrenceKind::NewHire = recurrence.on;
        if step.kind != StepKind::StaffCommitments {
            return Err(format!(
                "step {id}: only staff commitments recur at a new hire"
            ));
        }
        non_empty(&format!("step {id}'s recurrence quote"), &recurrence.quote)?;
        non_empty(
            &format!("step {id}'s recurrence section"),
            &recurrence.section,
        )?;
    }
    Ok(())
}

/// Every kind is either a step or a silence, never both.
fn validate_silences(d: &ProcessDefinition) -> Result<(), String> {
    let mut silent = BTreeSet::new();
    for s in &d.silent {
        if !silent.insert(s.step) {
            return Err(format!("{} is listed as silent twice", s.step));
        }
        non_empty(&format!("the silence on {}", s.step), &s.note)?;
        if d.has(s.step) {
            return Err(format!(
                "{} is both a step and listed as silent; it is one or the other",
                s.step
            ));
        }
    }
    for kind in StepKind::ALL {
        if !d.has(kind) && !silent.contains(&kind) {
            return Err(format!(
                "{kind} is neither a step nor listed as silent: say which the document does"
            ));
        }
    }
    Ok(())
}

fn validate_lead_time(d: &ProcessDefinition, catalogue: &Catalogue) -> Result<(), String> {
    match (&d.lead_time, &catalogue.lead_time) {
        (None, None) => Ok(()),
        (Some(_), None) => Err("the process has a lead time but its catalogue has none".into()),
        (None, Some(_)) => {
            Err("the catalogue has a lead time but the process does not word it".into())
        }
        (Some(rule), Some(lead)) => {
            if rule.months != lead.months || rule.kind != lead.kind {
                return Err(format!(
                    "the lead time ({} months, {:?}) differs from the catalogue's ({} months, {:?})",
                    rule.months, rule.kind, lead.months, lead.kind
                ));
            }
            non_empty("the lead time's quote", &rule.quote)?;
            non_empty("the lead time's section", &rule.section)?;
            if !contains_words(&rule.quote, &rule.words) {
                return Err(format!(
                    "the lead time's words {:?} are not in its quote",
                    rule.words
                ));
            }
            Ok(())
        }
    }
}

fn validate_duties(d: &ProcessDefinition, catalogue: &Catalogue) -> Result<(), String> {
    let mut ids = BTreeSet::new();
    for duty in &d.duties {
        let id = &duty.id;
        if !ids.insert(id) {
            return Err(format!("duty {id} appears twice"));
        }
        for (field, value) in [
            ("summary", &duty.summary),
            ("section", &duty.section),
            ("quote", &duty.quote),
        ] {
            non_empty(&format!("duty {id}'s {field}"), value)?;
        }
        for r in &duty.requirements {
            if catalogue.requirement(r).is_none() {
                return Err(format!(
                    "duty {id} cites requirement {r}, which catalogue {} v{} does not have",
                    catalogue.programme, catalogue.version
                ));
            }
        }
        if let Some(t) = &duty.timeliness {
            if !contains_words(&duty.quote, &t.words) {
                return Err(format!(
                    "duty {id}'s timeliness words {:?} are not in its quote",
                    t.words
                ));
            }
            if !t
                .kind
                .stems()
                .iter()
                .any(|stem| contains_words(&t.words, stem))
            {
                return Err(format!(
                    "duty {id}'s timeliness words {:?} do not say {:?}",
                    t.words, t.kind
                ));
            }
        }
        if let Some(c) = &duty.channel {
            non_empty(&format!("duty {id}'s channel section"), &c.section)?;
            if !contains_words(&c.quote, &c.name) {
                return Err(format!(
                    "duty {id}'s channel {:?} is not in the channel's quote",
                    c.name
                ));
            }
        }
    }
    Ok(())
}
