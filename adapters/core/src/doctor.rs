//! What `handoff doctor` reports for each platform: one finding per check,
//! each saying what to fix when it failed.

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Whether all is well.
    pub ok: bool,
    /// What was checked and found.
    pub what: String,
    /// What to do about it, when not ok.
    pub fix: Option<String>,
}

impl Finding {
    /// A check that passed.
    pub fn good(what: String) -> Self {
        Self {
            ok: true,
            what,
            fix: None,
        }
    }

    /// A check that failed, with what to do about it.
    pub fn bad(what: String, fix: impl Into<String>) -> Self {
        Self {
            ok: false,
            what,
            fix: Some(fix.into()),
        }
    }
}
