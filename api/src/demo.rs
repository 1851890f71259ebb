//! `anslut serve --demo`: a worked example, loaded through the same command pipeline as the
//! HTTP routes (request parsing, authorisation, `If-Match`, idempotency, the domain's rules),
//! so every event in it is one the API itself would record. Seven cases across the five
//! programmes: an application, an approved one, one in establishment with a returned
//! self-declaration, one in final verification with an open demand and a recommendation, one
//! live with an incident being assessed, one suspended and one ended. Loaded only into an
//! empty store.

use chrono::{Duration, NaiveDate};
use domain::catalogue::Catalogue;
use domain::ids::{CaseId, ProgrammeId};
use domain::process::{ProcessDefinition, Step, StepKind};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::Principal;
use crate::commands::CommandInput;
use crate::dto::commands::SubmitApplicationRequest;
use crate::dto::incidents::{AssessIncidentRequest, ReportIncidentRequest};
use crate::extract::{CommandHeaders, IfMatch, RequestContext, parse_json};
use crate::problem::ApiError;
use crate::routes::{cases, incidents};
use crate::state::AppState;

/// Why the demo could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("{step}: {error}")]
    Step { step: String, error: ApiError },
    #[error("{0}")]
    Setup(String),
}

struct Demo<'a> {
    state: &'a AppState,
    today: NaiveDate,
    step: usize,
}

fn principal(role: &str, region: &str, org: Option<&str>) -> Result<Principal, DemoError> {
    let subject = format!("demo-{role}-{region}");
    Principal::from_claims(&subject, role, region, org)
        .map_err(|error| DemoError::Setup(format!("the demo's {role} in {region}: {error}")))
}

struct Unit {
    programme: &'static str,
    region: &'static str,
    org: &'static str,
    name: &'static str,
    contacts: Value,
    packages: Value,
    listed_patients: Option<u32>,
    call_measurement_system: Option<&'static str>,
}

impl Demo<'_> {
    fn date(&self, days: i64) -> String {
        (self.today + Duration::days(days)).to_string()
    }

    fn input(
        &mut self,
        who: &Principal,
        path: String,
        body: &Value,
    ) -> Result<CommandInput, DemoError> {
        self.step += 1;
        Ok(CommandInput {
            principal: who.clone(),
            context: RequestContext {
                request_id: Uuid::now_v7(),
                method: "POST".into(),
                route: path.clone(),
                path,
            },
            headers: CommandHeaders {
                if_match: Some(IfMatch::Any),
                idempotency_key: Some(format!("demo-{}", self.step)),
            },
            body: serde_json::to_vec(body)
                .map_err(|e| DemoError::Setup(e.to_string()))?
                .into(),
        })
    }

    async fn apply(&mut self, who: &Principal, unit: &Unit) -> Result<CaseId, DemoError> {
        let body = json!({
            "programme": unit.programme,
            "unit_name": unit.name,
            "org_number": unit.org,
            "service_packages": unit.packages,
            "workstations": 12,
            "listed_patients": unit.listed_patients,
            "contacts": unit.contacts,
            "requested_go_live": self.date(120),
            "call_measurement_system": unit.call_measurement_system,
        });
        let input = self.input(who, "/v1/cases".into(), &body)?;
        let case_id = input.new_case_id();
        let step = |error| DemoError::Step {
            step: format!("{}: submit-application", unit.name),
            error,
        };
        let request: SubmitApplicationRequest = parse_json(&input.body).map_err(step)?;
        cases::submit(self.state, &input, request)
            .await
            .map_err(step)?;
        tracing::info!(case_id = %case_id, unit = unit.name, programme = unit.programme, region = unit.region, "demo case");
        Ok(case_id)
    }

    async fn act(
        &mut self,
        who: &Principal,
        case_id: CaseId,
        command: &str,
        body: Value,
    ) -> Result<(), DemoError> {
        let input = self.input(who, format!("/v1/cases/{case_id}/{command}"), &body)?;
        cases::dispatch(self.state, &input, case_id, command)
            .await
            .map_err(|error| DemoError::Step {
                step: format!("{case_id}: {command}"),
                error,
            })?;
        Ok(())
    }

    fn catalogue(&self, programme: &str) -> Result<&Catalogue, DemoError> {
        let id = ProgrammeId::parse(programme).map_err(|e| DemoError::Setup(e.to_string()))?;
        self.state
            .catalogues
            .in_force(&id, self.today)
            .ok_or_else(|| DemoError::Setup(format!("no catalogue of {programme} in force")))
    }

    fn process(&self, programme: &str) -> Result<&ProcessDefinition, DemoError> {
        let catalogue = self.catalogue(programme)?;
        self.state
            .catalogues
            .process(&catalogue.programme, catalogue.version)
            .ok_or_else(|| DemoError::Setup(format!("no process of {programme}")))
    }

    /// From application through every step of the programme's own process that comes
    /// before go-live and is not the final verification: the agreements, plans,
    /// self-declaration, training, staff commitments and computer checks its document names.
    /// Its future is large (17 kB in a release build), so callers box it.
    async fn establish(
        &mut self,
        unit: &Unit,
        officer: &Principal,
        provider: &Principal,
    ) -> Result<CaseId, DemoError> {
        let case_id = self.apply(provider, unit).await?;
        self.act(
            officer,
            case_id,
            "approve-application",
            json!({"reason": "The application is complete."}),
        )
        .await?;
        self.act(officer, case_id, "sign-contract", json!({"signed_on": self.date(0), "document": "Anslutningsavtal, diarienummer 2026/118"})).await?;
        let catalogue = self.catalogue(unit.programme)?;
        let process = self.process(unit.programme)?;
        let gating = |kind: StepKind| {
            process
                .steps_of(kind)
                .filter(|step| step.gate.is_some() && step.condition.is_none())
                .cloned()
                .collect::<Vec<Step>>()
        };
        let agreements: Vec<String> = gating(StepKind::Agreement)
            .iter()
            .flat_map(|step| step.requirements.iter().map(ToString::to_string))
            .collect();
        let plans = gating(StepKind::Plan);
        let has_training = process.has(StepKind::Training);
        let staff = gating(StepKind::StaffCommitments);
        let checks = !gating(StepKind::TechnicalCheck).is_empty();
        let answers: Vec<Value> = catalogue
            .requirements
            .iter()
            .map(|r| json!({"requirement": r.id.as_str(), "compliance": "complies"}))
            .collect();
        for agreement in agreements {
            self.act(officer, case_id, "sign-agreement", json!({"agreement": agreement, "signed_on": self.date(0), "counterparty": "Inera AB"})).await?;
        }
        for plan in plans {
            self.act(officer, case_id, "record-plan", json!({"step": plan.id.as_str(), "recorded_on": self.date(0), "document": format!("{}, diarienummer 2026/121", plan.name)})).await?;
        }
        self.act(
            provider,
            case_id,
            "submit-self-declaration",
            json!({"answers": answers}),
        )
        .await?;
        self.act(
            officer,
            case_id,
            "accept-self-declaration",
            json!({"reason": "Every requirement is answered."}),
        )
        .await?;
        self.act(officer, case_id, "record-milestone", json!({"milestone": {"kind": "network_connected", "network": "Sjunet"}, "completed_on": self.date(0)})).await?;
        if has_training {
            self.act(
                officer,
                case_id,
                "complete-training",
                json!({"completed_on": self.date(0), "description": "Introductory training, 8 staff."}),
            )
            .await?;
        }
        for step in staff {
            // One user, listed with the day access starts, who signs what the form holds.
            self.act(provider, case_id, "list-staff-member", json!({
                "hsa_id": "SE5566778899-L4M2", "name": "Eva Lund", "personnummer": "19850421-2385",
                "access_from": self.date(0)
            })).await?;
            for commitment in &step.commitments {
                self.act(provider, case_id, "record-staff-commitment", json!({
                    "hsa_id": "SE5566778899-L4M2", "name": "Eva Lund", "personnummer": "19850421-2385",
                    "kind": commitment.as_str(), "signed_on": self.date(0)
                })).await?;
            }
        }
        if checks {
            self.act(
                officer,
                case_id,
                "record-technical-check",
                json!({
                    "computer": "KLT-01", "checked_on": self.date(0), "approved": true,
                    "remark": "Disk encryption on, antivirus current."
                }),
            )
            .await?;
        }
        Ok(case_id)
    }

    /// To go-live: through an approved final verification and the final contract where the
    /// programme has them (Jämtland only), directly elsewhere.
    async fn go_live(
        &mut self,
        case_id: CaseId,
        programme: &str,
        officer: &Principal,
    ) -> Result<(), DemoError> {
        if !self.process(programme)?.has(StepKind::FinalVerification) {
            return self
                .act(
                    officer,
                    case_id,
                    "go-live",
                    json!({"reason": "Every condition of go-live is met."}),
                )
                .await;
        }
        self.act(
            officer,
            case_id,
            "schedule-final-verification",
            json!({"scheduled_for": self.date(0)}),
        )
        .await?;
        self.act(
            officer,
            case_id,
            "approve-final-verification",
            json!({"reason": "The premises and the IT environment meet the contract."}),
        )
        .await?;
        self.act(
            officer,
            case_id,
            "sign-final-contract",
            json!({"signed_on": self.date(0), "document": "Slutavtal 2026/207"}),
        )
        .await?;
        self.act(
            officer,
            case_id,
            "go-live",
            json!({"reason": "Every condition of go-live is met."}),
        )
        .await
    }
}

fn contacts(roles: &[&str], domain: &str) -> Value {
    const PEOPLE: [&str; 7] = [
        "Karin Lindqvist",
        "Jonas Ek",
        "Sara Holm",
        "Anders Nyberg",
        "Maria Sjöberg",
        "Erik Dahl",
        "Lena Forsberg",
    ];
    Value::Array(
        roles
            .iter()
            .zip(PEOPLE)
            .map(|(role, name)| {
                let email = format!(
                    "{}@{domain}",
                    name.to_lowercase()
                        .replace(' ', ".")
                        .replace('ö', "o")
                        .replace(['å', 'ä'], "a")
                );
                json!({"role": role, "name": name, "email": email, "phone": "+46 10 123 45 67"})
            })
            .collect(),
    )
}

/// Loads the worked example when the store is empty; otherwise leaves it alone.
pub async fn load(state: &AppState) -> Result<(), DemoError> {
    // Boxed: the whole demo is one large future (18 kB in a release build).
    Box::pin(populate(state)).await
}

async fn populate(state: &AppState) -> Result<(), DemoError> {
    let head = state
        .store
        .head()
        .await
        .map_err(|error| DemoError::Setup(error.to_string()))?;
    if head.get() > 0 {
        tracing::info!(
            events = head.get(),
            "the store holds events: the demo is not loaded again"
        );
        return Ok(());
    }
    let mut demo = Demo {
        state,
        today: state.clock.today(),
        step: 0,
    };
    let jamtland = principal("officer", "jamtland-harjedalen", None)?;
    let jamtland_it = principal("region_it", "jamtland-harjedalen", None)?;
    let dalarna = principal("officer", "dalarna", None)?;
    let varmland = principal("officer", "varmland", None)?;
    let varmland_it = principal("region_it", "varmland", None)?;

    // 1. Värmland, Fysioterapi: an application awaiting the region's decision.
    let fysio = Unit {
        programme: "varmland-fysioterapi",
        region: "varmland",
        org: "559123-4561",
        name: "Fysioterapi Karlstad Centrum",
        contacts: contacts(
            &[
                "it_contact",
                "hsa_siths_contact",
                "office_environment_contact",
            ],
            "fysiokarlstad.se",
        ),
        packages: json!([]),
        listed_patients: None,
        call_measurement_system: None,
    };
    demo.apply(
        &principal("provider", fysio.region, Some(fysio.org))?,
        &fysio,
    )
    .await?;

    // 2. Dalarna, Hälsoval: approved, awaiting the contract.
    let falun = Unit {
        programme: "dalarna-halsoval",
        region: "dalarna",
        org: "556712-3400",
        name: "Vårdcentralen Falun Norr",
        contacts: contacts(&["head_of_unit"], "falunnorr.se"),
        packages: json!([]),
        listed_patients: None,
        call_measurement_system: None,
    };
    let case = demo
        .apply(
            &principal("provider", falun.region, Some(falun.org))?,
            &falun,
        )
        .await?;
    demo.act(
        &dalarna,
        case,
        "approve-application",
        json!({"reason": "The unit meets the Hälsoval conditions."}),
    )
    .await?;

    // 3. Dalarna, BUP: establishment, the self-declaration returned for completion.
    let bup = Unit {
        programme: "dalarna-bup",
        region: "dalarna",
        org: "559301-2346",
        name: "BUP-mottagningen Borlänge",
        contacts: contacts(&["head_of_unit"], "bupborlange.se"),
        packages: json!([]),
        listed_patients: None,
        call_measurement_system: None,
    };
    let bup_provider = principal("provider", bup.region, Some(bup.org))?;
    let case = demo.apply(&bup_provider, &bup).await?;
    demo.act(
        &dalarna,
        case,
        "approve-application",
        json!({"reason": "Complete application."}),
    )
    .await?;
    demo.act(
        &dalarna,
        case,
        "sign-contract",
        json!({"signed_on": demo.date(0), "document": "Avtal BUP 2026/033"}),
    )
    .await?;
    let answers: Vec<Value> = demo
        .catalogue(bup.programme)?
        .requirements
        .iter()
        .map(|r| json!({"requirement": r.id.as_str(), "compliance": "complies"}))
        .collect();
    let first = answers
        .first()
        .and_then(|a| a["requirement"].as_str())
        .unwrap_or("DBUP-001")
        .to_owned();
    demo.act(
        &bup_provider,
        case,
        "submit-self-declaration",
        json!({"answers": answers}),
    )
    .await?;
    demo.act(&dalarna, case, "return-self-declaration", json!({
        "reason": "Please describe how the unit's local network is separated from guests' devices.",
        "remarks": [{"requirement": first, "remark": "Describe the separation of the guest network."}]
    })).await?;

    // 4. Jämtland, Hälsoval: final verification with an open demand and a recommendation.
    let ostersund = Unit {
        programme: "jamtland-halsoval",
        region: "jamtland-harjedalen",
        org: "556677-8899",
        name: "Östersundshälsan Vårdcentral",
        contacts: contacts(
            &["it_contact", "system_administrator"],
            "ostersundshalsan.se",
        ),
        packages: json!(["vardutbud-bas", "stodapplikationer"]),
        listed_patients: Some(4200),
        call_measurement_system: Some("Telia Touchpoint"),
    };
    let ostersund_provider = principal("provider", ostersund.region, Some(ostersund.org))?;
    let case = Box::pin(demo.establish(&ostersund, &jamtland, &ostersund_provider)).await?;
    demo.act(
        &ostersund_provider,
        case,
        "record-staff-commitment",
        json!({
            "hsa_id": "SE5566778899-K7Q2", "name": "Per Olsson", "personnummer": "19811218-9876",
            "kind": "responsibility_commitment", "signed_on": demo.date(0)
        }),
    )
    .await?;
    demo.act(
        &jamtland_it,
        case,
        "schedule-final-verification",
        json!({"scheduled_for": demo.date(0)}),
    )
    .await?;
    demo.act(&jamtland_it, case, "record-finding", json!({"kind": "demand", "requirement": "JHV-030", "description": "The network cabinet in the corridor is not locked.", "due": demo.date(14)})).await?;
    demo.act(&jamtland_it, case, "record-finding", json!({"kind": "recommendation", "description": "Mount privacy filters on the reception screens."})).await?;

    // 5. Värmland, Vårdcentral: live, with an incident being assessed.
    let kronoparken = Unit {
        programme: "varmland-vardcentral",
        region: "varmland",
        org: "556845-6718",
        name: "Vårdcentralen Kronoparken",
        contacts: contacts(
            &[
                "it_contact",
                "hsa_siths_contact",
                "office_environment_contact",
                "head_of_unit",
                "it_representative",
                "care_administrator",
                "catalogue_administrator",
            ],
            "vckronoparken.se",
        ),
        packages: json!([]),
        listed_patients: None,
        call_measurement_system: None,
    };
    let kronoparken_provider = principal("provider", kronoparken.region, Some(kronoparken.org))?;
    let case = Box::pin(demo.establish(&kronoparken, &varmland, &kronoparken_provider)).await?;
    demo.go_live(case, kronoparken.programme, &varmland).await?;
    let now = chrono::Utc::now();
    let report = json!({
        "summary": "Phishing e-mail opened on a reception workstation",
        "description": "A receptionist opened an attachment; the workstation was disconnected within ten minutes.",
        "detected_at": (now - Duration::minutes(30)).to_rfc3339(),
        "occurred_at": (now - Duration::minutes(50)).to_rfc3339(),
        "region_it_may_be_affected": true,
        "severity": "medium"
    });
    let input = demo.input(
        &kronoparken_provider,
        format!("/v1/cases/{case}/incidents"),
        &report,
    )?;
    let incident_id = input.new_incident_id();
    let step = |error| DemoError::Step {
        step: "report-incident".into(),
        error,
    };
    let request: ReportIncidentRequest = parse_json(&input.body).map_err(step)?;
    incidents::report(state, &input, case, request)
        .await
        .map_err(step)?;
    let assessment = json!({"severity": "low", "region_it_affected": false, "assessment": "No traffic from the workstation reached the region's network."});
    let input = demo.input(
        &varmland_it,
        format!("/v1/incidents/{incident_id}/assess"),
        &assessment,
    )?;
    let step = |error| DemoError::Step {
        step: "assess-incident".into(),
        error,
    };
    let request: AssessIncidentRequest = parse_json(&input.body).map_err(step)?;
    incidents::run_incident_command(state, &input, incident_id, request)
        .await
        .map_err(step)?;

    // 6. Jämtland, Hälsoval: live, then suspended.
    let froso = Unit {
        programme: "jamtland-halsoval",
        region: "jamtland-harjedalen",
        org: "559412-3787",
        name: "Frösö Hälsocentral",
        contacts: contacts(&["it_contact", "system_administrator"], "frosohalsan.se"),
        packages: json!(["vardutbud-bas", "stodapplikationer", "telefoni"]),
        listed_patients: Some(3100),
        call_measurement_system: Some("Puzzel"),
    };
    let froso_provider = principal("provider", froso.region, Some(froso.org))?;
    let case = Box::pin(demo.establish(&froso, &jamtland, &froso_provider)).await?;
    demo.go_live(case, froso.programme, &jamtland).await?;
    demo.act(&jamtland, case, "suspend-connection", json!({"reason": "Suspected misuse of a SITHS card; access suspended pending investigation."})).await?;

    // 7. Dalarna, Hälsoval: withdrawn during establishment, ended.
    let mora = Unit {
        programme: "dalarna-halsoval",
        region: "dalarna",
        org: "556923-4510",
        name: "Hälsocentralen Mora",
        contacts: contacts(&["head_of_unit"], "halsocentralenmora.se"),
        packages: json!([]),
        listed_patients: None,
        call_measurement_system: None,
    };
    let case = demo
        .apply(&principal("provider", mora.region, Some(mora.org))?, &mora)
        .await?;
    demo.act(
        &dalarna,
        case,
        "approve-application",
        json!({"reason": "Complete application."}),
    )
    .await?;
    demo.act(
        &dalarna,
        case,
        "sign-contract",
        json!({"signed_on": demo.date(0)}),
    )
    .await?;
    demo.act(&dalarna, case, "end-connection", json!({"ending": {"kind": "withdrawn"}, "ended_on": demo.date(0), "reason": "The provider withdrew before going live."})).await?;

    tracing::info!(
        steps = demo.step,
        "demo loaded: 7 cases across the five programmes. Mint a token to look: \
         `cargo run --release --bin anslut -- token --role officer --region jamtland-harjedalen` \
         (also dalarna, varmland; providers add --org, e.g. --role provider --region jamtland-harjedalen --org 556677-8899), \
         then GET /v1/catalogues, or open /docs"
    );
    Ok(())
}
