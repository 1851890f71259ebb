//! Swedish and English labels. Swedish is the default: the people who open the dashboard
//! work for Swedish regions and their providers, and the documents the programmes follow
//! (avtal, egendeklaration, ansvarsförbindelse) are Swedish. `?lang=en` (or a browser that
//! prefers English) gives English. Values that come from the read models (unit names,
//! descriptions, the domain's messages) are shown as recorded.

use domain::Role;

/// A language of the dashboard.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Lang {
    #[default]
    Sv,
    En,
}

impl Lang {
    /// `sv` or `en`.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.to_ascii_lowercase().as_str() {
            "sv" => Some(Self::Sv),
            "en" => Some(Self::En),
            _ => None,
        }
    }

    pub const fn code(self) -> &'static str {
        match self {
            Self::Sv => "sv",
            Self::En => "en",
        }
    }

    /// The label in this language.
    pub const fn pick(self, sv: &'static str, en: &'static str) -> &'static str {
        match self {
            Self::Sv => sv,
            Self::En => en,
        }
    }
}

pub fn role(lang: Lang, role: Role) -> &'static str {
    match role {
        Role::Officer => lang.pick("Handläggare", "Officer"),
        Role::RegionIt => lang.pick("Regionens IT", "Region IT"),
        Role::Provider => lang.pick("Vårdgivare", "Provider"),
        Role::Auditor => lang.pick("Granskare", "Auditor"),
        Role::Dashboard => lang.pick(
            "Översikt (ingen persondata)",
            "Dashboard (no personal data)",
        ),
        Role::Integration => lang.pick("Integration", "Integration"),
    }
}

/// A phase code (`Phase::as_str`) in words.
pub fn phase(lang: Lang, code: &str) -> &'static str {
    match code {
        "application" => lang.pick("Ansökan", "Application"),
        "approved" => lang.pick("Godkänd", "Approved"),
        "establishment" => lang.pick("Etablering", "Establishment"),
        "final_verification" => lang.pick("Slutverifiering", "Final verification"),
        "live" => lang.pick("I drift", "Live"),
        "suspended" => lang.pick("Avstängd", "Suspended"),
        "ended" => lang.pick("Avslutad", "Ended"),
        "rejected" => lang.pick("Avslagen", "Rejected"),
        _ => lang.pick("Okänd", "Unknown"),
    }
}

/// A severity code in words.
pub fn severity(lang: Lang, code: &str) -> &'static str {
    match code {
        "low" => lang.pick("Låg", "Low"),
        "medium" => lang.pick("Medel", "Medium"),
        "high" => lang.pick("Hög", "High"),
        "critical" => lang.pick("Kritisk", "Critical"),
        _ => lang.pick("Okänd", "Unknown"),
    }
}

/// A finding kind in words.
pub fn finding_kind(lang: Lang, code: &str) -> &'static str {
    match code {
        "demand" => lang.pick("Krav", "Demand"),
        "recommendation" => lang.pick("Rekommendation", "Recommendation"),
        _ => lang.pick("Okänd", "Unknown"),
    }
}

/// A staff commitment kind in words.
pub fn commitment(lang: Lang, code: &str) -> &'static str {
    match code {
        "responsibility_commitment" => {
            lang.pick("Ansvarsförbindelse", "IT responsibility commitment")
        }
        "confidentiality_reminder" => lang.pick("Sekretesserinran", "Confidentiality reminder"),
        _ => lang.pick("Annan förbindelse", "Other commitment"),
    }
}

/// What comes next for a case in `phase` whose first open blocker (if any) is `blocker`.
pub fn next_step(lang: Lang, phase: &str, blocker: Option<&str>) -> String {
    match (phase, blocker) {
        ("application", _) => lang
            .pick(
                "Regionen beslutar om ansökan",
                "The region decides on the application",
            )
            .into(),
        ("approved", _) => lang
            .pick(
                "Anslutningsavtal tecknas",
                "The connection contract is signed",
            )
            .into(),
        ("establishment" | "final_verification", Some(message)) => message.to_owned(),
        ("establishment" | "final_verification", None) => lang.pick("Driftstart", "Go live").into(),
        ("suspended", _) => lang.pick("Återuppta eller avsluta", "Resume or end").into(),
        _ => "—".into(),
    }
}
