//! The process definitions: one per catalogue version, each with exactly the steps its
//! source document names, and every quote (step, gate, condition, recurrence, lead time,
//! duty, channel) found verbatim in that document.

use std::collections::BTreeSet;
use std::path::PathBuf;

use domain::catalogue::{CatalogueRegistry, LeadTimeKind};
use domain::ids::ProgrammeId;
use domain::process::{
    ConditionKind, DutyKind, GateBasis, ProcessDefinition, ProcessError, ProcessRegistry, StepId,
    StepKind, StepScope, TimelinessKind,
};

use crate::seeds::{document, normalise, report_missing};

use StepKind::{
    Agreement, Application, Contract, FinalContract, FinalVerification, GoLive, Plan,
    SelfDeclaration, StaffCommitments, TechnicalCheck, Training,
};

fn catalogues() -> CatalogueRegistry {
    CatalogueRegistry::load_embedded().expect("the embedded catalogues are valid")
}

fn registry() -> ProcessRegistry {
    ProcessRegistry::load_embedded(&catalogues()).expect("the embedded processes are valid")
}

fn definition(programme: &str, version: u32) -> ProcessDefinition {
    registry()
        .get(&ProgrammeId::parse(programme).unwrap(), version)
        .unwrap_or_else(|| panic!("no process for {programme} v{version}"))
        .clone()
}

fn step_ids(d: &ProcessDefinition) -> Vec<&str> {
    d.steps.iter().map(|s| s.id.as_str()).collect()
}

fn gating(d: &ProcessDefinition) -> Vec<&str> {
    d.gating_steps().map(|s| s.id.as_str()).collect()
}

fn conditional(d: &ProcessDefinition) -> Vec<(&str, ConditionKind)> {
    d.steps
        .iter()
        .filter_map(|s| s.condition.as_ref().map(|c| (s.id.as_str(), c.on)))
        .collect()
}

fn signed_documents(d: &ProcessDefinition) -> Vec<&str> {
    d.steps.iter().filter_map(|s| s.signed_document()).collect()
}

fn silent(d: &ProcessDefinition) -> BTreeSet<StepKind> {
    d.silent.iter().map(|s| s.step).collect()
}

/// The embedded process files as `(name, text)`, read from disk so that tests can alter one.
fn sources() -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("processes");
    ProcessRegistry::embedded_files()
        .map(|name| {
            let text = std::fs::read_to_string(dir.join(name)).unwrap();
            (name.to_owned(), text)
        })
        .collect()
}

/// Loads the embedded files with one of them altered.
fn load_with(file: &str, alter: impl Fn(&str) -> String) -> Result<ProcessRegistry, ProcessError> {
    let altered: Vec<(String, String)> = sources()
        .into_iter()
        .map(|(name, text)| {
            if name == file {
                let changed = alter(&text);
                assert_ne!(changed, text, "the alteration of {file} changed nothing");
                (name, changed)
            } else {
                (name, text)
            }
        })
        .collect();
    ProcessRegistry::from_sources(
        altered.iter().map(|(n, t)| (n.as_str(), t.as_str())),
        &catalogues(),
    )
}

#[test]
fn one_process_definition_loads_for_each_of_the_six_catalogue_versions() {
    let catalogues = catalogues();
    let registry = registry();
    assert_eq!(registry.all().len(), 6);
    for catalogue in catalogues.all() {
        let process = registry
            .for_catalogue(catalogue)
            .unwrap_or_else(|| panic!("{} has no process", catalogue.reference()));
        assert_eq!(process.source.file, catalogue.source.file);
        assert_eq!(process.digest.len(), 64);
        assert_eq!(process.reference().version, catalogue.version);
    }
}

#[test]
fn every_quote_of_every_process_occurs_verbatim_in_its_source_document() {
    let mut missing = Vec::new();
    let mut not_found = Vec::new();
    let mut checked = 0;
    for d in registry().all() {
        let Some(text) = document(&d.source.file) else {
            missing.push(d.source.file.clone());
            continue;
        };
        let mut quotes: Vec<(String, &str)> = Vec::new();
        for s in &d.steps {
            quotes.push((format!("step {}", s.id), &s.quote));
            if let Some(g) = &s.gate {
                quotes.push((format!("step {} gate", s.id), &g.quote));
            }
            if let Some(c) = &s.condition {
                quotes.push((format!("step {} condition", s.id), &c.quote));
            }
            if let Some(r) = &s.recurrence {
                quotes.push((format!("step {} recurrence", s.id), &r.quote));
            }
        }
        if let Some(l) = &d.lead_time {
            quotes.push(("lead time".into(), &l.quote));
        }
        for duty in &d.duties {
            quotes.push((format!("duty {}", duty.id), &duty.quote));
            if let Some(c) = &duty.channel {
                quotes.push((format!("duty {} channel", duty.id), &c.quote));
            }
        }
        for (what, quote) in quotes {
            checked += 1;
            if !text.contains(&normalise(quote)) {
                not_found.push(format!("{} v{} {what}: {quote:?}", d.programme, d.version));
            }
        }
    }
    assert!(
        not_found.is_empty(),
        "{} of {checked} process quotes are not in their documents:\n{}",
        not_found.len(),
        not_found.join("\n")
    );
    report_missing(&missing);
}

#[test]
fn each_process_cites_only_requirements_of_its_own_catalogue_and_each_once() {
    let catalogues = catalogues();
    for d in registry().all() {
        let catalogue = catalogues.get(&d.programme, d.version).unwrap();
        let mut seen = BTreeSet::new();
        for r in d.steps.iter().flat_map(|s| &s.requirements) {
            assert!(catalogue.requirement(r).is_some(), "{} {r}", d.programme);
            assert!(seen.insert(r), "{} cites {r} twice", d.programme);
        }
    }
}

#[test]
fn jamtland_has_exactly_the_steps_its_document_names() {
    // Given Region Jämtland Härjedalen's Bilaga 2 - IT och telefoni
    let d = definition("jamtland-halsoval", 1);
    // Then its steps, in order, are these and no others
    assert_eq!(
        step_ids(&d),
        [
            "ansokan-om-vardenhet",      // §1.3
            "kontrakt",                  // §3.9
            "it-anslutningsavtal",       // §2.5
            "sjunet-avtal",              // §2.4
            "avtal-stod-och-behandling", // §3.1, if connected
            "avtal-hjalpmedelssystem",   // §3.2, if connected
            "avtal-telefoni",            // §2.7, if the package is chosen
            "gemensam-it-plan",          // §3.9
            "sjalvdeklaration",          // §3.8
            "introduktionsutbildning",   // §3.7
            "slutverifiering",           // §3.10
            "slutligt-avtal",            // §3.10
            "driftstart",                // §3.10
        ]
    );
    assert_eq!(
        d.kinds(),
        [
            Application,
            Contract,
            Agreement,
            Plan,
            SelfDeclaration,
            Training,
            FinalVerification,
            FinalContract,
            GoLive
        ]
    );
    assert_eq!(
        silent(&d),
        BTreeSet::from([StaffCommitments, TechnicalCheck])
    );
    // And three distinct documents of its own: kontrakt, anslutningsavtal, slutligt avtal
    let documents = signed_documents(&d);
    for document in [
        "kontrakt",
        "Anslutningsavtal Region Jämtland Härjedalen IT-tjänster",
        "slutligt avtal",
    ] {
        assert!(documents.contains(&document), "{documents:?}");
    }
    let contract = d.steps_of(Contract).next().unwrap();
    assert!(
        contract.requirements.is_empty(),
        "JHV-014 is not the contract"
    );
    let connection = d
        .step(&StepId::parse("it-anslutningsavtal").unwrap())
        .unwrap();
    assert_eq!(connection.requirements[0].as_str(), "JHV-014");
    // And Hjälpmedelssystem and Stöd och behandling are conditional on being connected,
    // telephony on its package
    assert_eq!(
        conditional(&d),
        [
            ("avtal-stod-och-behandling", ConditionKind::SystemConnected),
            ("avtal-hjalpmedelssystem", ConditionKind::SystemConnected),
            ("avtal-telefoni", ConditionKind::ServicePackage),
        ]
    );
    // And the joint IT plan gates go-live, as do the final verification and final contract
    assert_eq!(
        gating(&d),
        [
            "kontrakt",
            "it-anslutningsavtal",
            "sjunet-avtal",
            "avtal-stod-och-behandling",
            "avtal-hjalpmedelssystem",
            "gemensam-it-plan",
            "sjalvdeklaration",
            "introduktionsutbildning",
            "slutverifiering",
            "slutligt-avtal",
        ]
    );
    // And no lead time; incidents go to the helpdesk
    assert!(d.lead_time.is_none());
    let incident = d
        .duties
        .iter()
        .find(|x| x.kind == DutyKind::SecurityIncident)
        .unwrap();
    assert_eq!(
        incident.channel.as_ref().unwrap().name,
        "helpdesk@regionjh.se"
    );
}

fn assert_dalarna_bup(version: u32) {
    // Given Region Dalarna's IT appendix for Vårdval BUP
    let d = definition("dalarna-bup", version);
    // Then: no training, no plan, no final verification, no final contract
    assert_eq!(
        step_ids(&d),
        [
            "bestallning",                  // §1.1
            "vardavtal",                    // §8
            "personuppgiftsbitradesavtal",  // §17
            "avtal-nationella-it-tjanster", // §17, om så krävs
            "kravuppfyllnad",               // §1 (Anslut's self-declaration)
            "ansvarsforbindelse",           // §16
            "uppstart",                     // §1.1
        ]
    );
    assert_eq!(
        silent(&d),
        BTreeSet::from([
            Plan,
            Training,
            TechnicalCheck,
            FinalVerification,
            FinalContract
        ])
    );
    // And every user signs the commitments at establishment and at each new hire
    let commitments = d.steps_of(StaffCommitments).next().unwrap();
    assert_eq!(commitments.scope, StepScope::PerUser);
    assert!(commitments.gate.is_some());
    assert!(commitments.recurrence.is_some());
    assert_eq!(commitments.requirements[0].as_str(), "DBUP-061");
    // And the lead time is approximate ("ca 3 månader")
    let lead = d.lead_time.as_ref().unwrap();
    assert_eq!((lead.months, lead.kind), (3, LeadTimeKind::Approximate));
    assert!(lead.quote.contains("ca 3 månader"));
    assert_eq!(
        conditional(&d),
        [("avtal-nationella-it-tjanster", ConditionKind::WhereRequired)]
    );
    // And organisational changes are reported "i god tid", HSA changes "snarast"
    let timeliness: Vec<TimelinessKind> = d
        .duties
        .iter()
        .filter_map(|x| x.timeliness.as_ref().map(|t| t.kind))
        .collect();
    assert_eq!(
        timeliness,
        [TimelinessKind::InGoodTime, TimelinessKind::AsSoonAsPossible]
    );
}

#[test]
fn dalarna_bup_v1_has_exactly_the_steps_its_document_names() {
    assert_dalarna_bup(1);
}

#[test]
fn dalarna_bup_v2_has_exactly_the_steps_its_document_names() {
    assert_dalarna_bup(2);
}

#[test]
fn the_two_dalarna_bup_versions_differ_in_wording_not_in_steps() {
    let (v1, v2) = (definition("dalarna-bup", 1), definition("dalarna-bup", 2));
    assert_eq!(step_ids(&v1), step_ids(&v2));
    assert_ne!(v1.source.file, v2.source.file);
    assert_ne!(v1.digest, v2.digest);
}

#[test]
fn dalarna_halsoval_has_exactly_the_steps_its_document_names() {
    // Given Region Dalarna's IT appendix for Hälsoval, revision 1.7
    let d = definition("dalarna-halsoval", 1);
    assert_eq!(
        step_ids(&d),
        [
            "bestallning",              // §2.1
            "vardavtal",                // §6
            "avtal-integrerade-system", // §5.3, kan det behövas
            "kravuppfyllnad",           // §2 (Anslut's self-declaration)
            "utbildning",               // §2.1, within the lead time only
            "ansvarsforbindelse",       // §12
            "etablering",               // §2.1
        ]
    );
    assert_eq!(
        silent(&d),
        BTreeSet::from([Plan, TechnicalCheck, FinalVerification, FinalContract])
    );
    // Then training is named but gates nothing; the commitment does not recur at new hires
    let training = d.steps_of(Training).next().unwrap();
    assert!(training.gate.is_none());
    let commitments = d.steps_of(StaffCommitments).next().unwrap();
    assert!(commitments.recurrence.is_none());
    assert_eq!(commitments.gate.as_ref().unwrap().basis, GateBasis::Implied);
    // And the lead time is a minimum ("minst 3 månader") from order to establishment
    let lead = d.lead_time.as_ref().unwrap();
    assert_eq!((lead.months, lead.kind), (3, LeadTimeKind::Minimum));
    assert!(lead.quote.contains("minst 3 månader"));
}

#[test]
fn varmland_vardcentral_has_exactly_the_steps_its_document_names() {
    // Given Region Värmland's Allmänna villkor IT, for Vårdval Vårdcentral
    let d = definition("varmland-vardcentral", 1);
    assert_eq!(
        step_ids(&d),
        [
            "namngivna-kontakter",                // §8
            "vardavtal",                          // §6.2
            "avtal-sammanhallen-dokumentation",   // §3
            "personuppgiftsbitradesavtal",        // §3
            "ineras-personuppgiftsbitradesavtal", // §3
            "efterfragade-avtal",                 // §3, i förekommande fall
            "kravuppfyllnad",                     // §1 (Anslut's self-declaration)
            "webbaserad-utbildning-1177",         // §6.4
            "ansluten-vardcentral",               // §1.1
        ]
    );
    assert_eq!(
        silent(&d),
        BTreeSet::from([
            Plan,
            StaffCommitments,
            TechnicalCheck,
            FinalVerification,
            FinalContract
        ])
    );
    // Then premises changes are reported "omgående", non-standard requests "i god tid"
    let premises = d
        .duties
        .iter()
        .find(|x| x.kind == DutyKind::PremisesChange)
        .unwrap();
    assert_eq!(
        premises.timeliness.as_ref().unwrap().kind,
        TimelinessKind::Immediately
    );
    assert!(d.lead_time.is_none());
}

#[test]
fn varmland_fysioterapi_has_exactly_the_steps_its_document_names() {
    // Given Region Värmland's Allmänna villkor IT, for Vårdval Fysioterapi
    let d = definition("varmland-fysioterapi", 1);
    assert_eq!(
        step_ids(&d),
        [
            "namngivna-kontakter",                // §8
            "vardavtal",                          // §6.2
            "avtal-sammanhallen-dokumentation",   // §3
            "personuppgiftsbitradesavtal",        // §3
            "ineras-personuppgiftsbitradesavtal", // §3
            "efterfragade-avtal",                 // §3, i förekommande fall
            "aktivitetsplan",                     // §1.2
            "kravuppfyllnad",                     // §1 (Anslut's self-declaration)
            "webbaserad-utbildning-1177",         // §6.4
            "kontroll-av-ansluten-dator",         // §3
            "start",                              // §1.2
        ]
    );
    assert_eq!(
        silent(&d),
        BTreeSet::from([StaffCommitments, FinalVerification, FinalContract])
    );
    // Then the activity plan and the check of each connecting computer gate go-live
    let gates = gating(&d);
    assert!(gates.contains(&"aktivitetsplan"), "{gates:?}");
    assert!(gates.contains(&"kontroll-av-ansluten-dator"), "{gates:?}");
    let check = d.steps_of(TechnicalCheck).next().unwrap();
    assert_eq!(check.scope, StepScope::PerComputer);
    assert_eq!(check.requirements[0].as_str(), "VRM-054");
    // And no premises duty (that is Vårdcentral's)
    assert!(!d.duties.iter().any(|x| x.kind == DutyKind::PremisesChange));
}

#[test]
fn only_jamtland_has_a_final_verification_and_a_final_contract() {
    for d in registry().all() {
        let jamtland = d.programme.as_str() == "jamtland-halsoval";
        assert_eq!(d.has(FinalVerification), jamtland, "{}", d.programme);
        assert_eq!(d.has(FinalContract), jamtland, "{}", d.programme);
    }
}

#[test]
fn only_jamtland_gates_go_live_on_training_and_dalarna_bup_names_none() {
    for d in registry().all() {
        let gated = d.steps_of(Training).any(|s| s.gate.is_some());
        assert_eq!(
            gated,
            d.programme.as_str() == "jamtland-halsoval",
            "{}",
            d.programme
        );
    }
    assert!(!definition("dalarna-bup", 1).has(Training));
    assert!(!definition("dalarna-bup", 2).has(Training));
}

#[test]
fn an_unknown_step_kind_is_refused() {
    let err = load_with("dalarna-bup-v1.toml", |t| {
        t.replacen("kind = \"go_live\"", "kind = \"launch_party\"", 1)
    })
    .unwrap_err();
    assert!(matches!(err, ProcessError::Parse { .. }), "{err}");
    assert!(err.to_string().contains("launch_party"), "{err}");
}

#[test]
fn an_unknown_field_is_refused() {
    let err = load_with("dalarna-bup-v1.toml", |t| {
        t.replacen(
            "scope = \"per_user\"",
            "scope = \"per_user\"\nsigned_by = \"all\"",
            1,
        )
    })
    .unwrap_err();
    assert!(matches!(err, ProcessError::Parse { .. }), "{err}");
}

#[test]
fn a_step_citing_a_requirement_its_catalogue_does_not_have_is_refused() {
    // JHV-014 is Jämtland's; Dalarna BUP's catalogue does not have it.
    let err = load_with("dalarna-bup-v1.toml", |t| {
        t.replacen(
            "requirements = [\"DBUP-065\"]",
            "requirements = [\"JHV-014\"]",
            1,
        )
    })
    .unwrap_err();
    assert!(err.to_string().contains("JHV-014"), "{err}");
}

#[test]
fn a_signed_document_of_the_catalogue_left_out_of_the_process_is_refused() {
    // Dropping the staff commitments' requirement leaves DBUP-061 without a step.
    let err = load_with("dalarna-bup-v1.toml", |t| {
        t.replacen("requirements = [\"DBUP-061\"]\n", "", 1)
    })
    .unwrap_err();
    assert!(err.to_string().contains("DBUP-061"), "{err}");
}

#[test]
fn a_step_kind_neither_named_nor_declared_silent_is_refused() {
    let err = load_with("dalarna-bup-v1.toml", |t| {
        t.replacen(
            "[[silent]]\nstep = \"final_contract\"\nnote = \"The document names no final contract.\"\n",
            "",
            1,
        )
    })
    .unwrap_err();
    assert!(err.to_string().contains("final_contract"), "{err}");
}

#[test]
fn a_final_contract_without_a_final_verification_is_refused() {
    let err = load_with("jamtland-halsoval-v1.toml", |t| {
        t.replacen(
            "kind = \"final_verification\"",
            "kind = \"technical_check\"",
            1,
        )
    })
    .unwrap_err();
    assert!(err.to_string().contains("final verification"), "{err}");
}

#[test]
fn a_condition_on_a_mandatory_package_is_refused() {
    let err = load_with("jamtland-halsoval-v1.toml", |t| {
        t.replacen("package = \"telefoni\"", "package = \"vardutbud-bas\"", 1)
    })
    .unwrap_err();
    assert!(err.to_string().contains("mandatory"), "{err}");
}

#[test]
fn timeliness_words_not_in_the_quote_are_refused() {
    let err = load_with("varmland-vardcentral-v1.toml", |t| {
        t.replacen("words = \"omgående\"", "words = \"snarast\"", 1)
    })
    .unwrap_err();
    assert!(err.to_string().contains("timeliness"), "{err}");
}

#[test]
fn a_lead_time_that_contradicts_the_catalogue_is_refused() {
    let err = load_with("dalarna-halsoval-v1.toml", |t| {
        t.replacen("kind = \"minimum\"", "kind = \"approximate\"", 1)
    })
    .unwrap_err();
    assert!(err.to_string().contains("lead time"), "{err}");
}

#[test]
fn an_implied_gate_without_a_note_is_refused() {
    let err = load_with("dalarna-halsoval-v1.toml", |t| {
        t.replacen(
            "note = \"A commitment for IT use is due before the user uses the IT; the document gives no time.\"\n",
            "",
            1,
        )
    })
    .unwrap_err();
    assert!(err.to_string().contains("implied"), "{err}");
}

#[test]
fn a_catalogue_version_without_a_process_is_refused() {
    let all = sources();
    let err = ProcessRegistry::from_sources(
        all.iter()
            .filter(|(n, _)| n != "dalarna-bup-v2.toml")
            .map(|(n, t)| (n.as_str(), t.as_str())),
        &catalogues(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        ProcessError::Missing {
            programme: "dalarna-bup".into(),
            version: 2
        }
    );
}
