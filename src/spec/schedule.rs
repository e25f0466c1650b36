//! `schedule = "*/5 * * * *"`: a service that is a job, run by the supervisor at the times
//! a cron expression names (five fields, or six with seconds first), in local time.

use std::time::SystemTime;

use toml::de::DeTable;

use super::values::Ctx;

/// When a scheduled job runs, and what happens when a run is still going at the next time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// The expression as written.
    pub expr: String,
    /// `overlap = true`: a time that comes while a run is still going is not skipped but
    /// kept, and the next run starts as soon as that one ends (one process per service, so
    /// runs never go side by side). `false` (the default) skips it, with a note in the log.
    pub overlap: bool,
    cron: croner::Cron,
}

impl Schedule {
    /// Parses a cron expression: `min hour dom month dow`, or with seconds first.
    pub fn new(expr: &str, overlap: bool) -> Result<Self, String> {
        let fields = expr.split_whitespace().count();
        if !expr.trim_start().starts_with('@') && !(5..=6).contains(&fields) {
            return Err(format!(
                "has {fields} fields; cron takes 5 (minute hour day month weekday) or 6 (seconds first)"
            ));
        }
        let cron = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Optional)
            .year(croner::parser::Year::Disallowed)
            .build()
            .parse(expr)
            .map_err(|e| e.to_string())?;
        Ok(Self {
            expr: expr.to_string(),
            overlap,
            cron,
        })
    }

    /// The first time after `t` the job is due, if the expression ever matches again.
    pub fn next_after(&self, t: SystemTime) -> Option<SystemTime> {
        let local: chrono::DateTime<chrono::Local> = t.into();
        self.cron
            .find_next_occurrence(&local, false)
            .ok()
            .map(SystemTime::from)
    }
}

/// Reads `schedule` and `overlap` from a service's table.
pub(super) fn parse(ctx: &mut Ctx<'_>, table: &DeTable<'_>) -> Option<Schedule> {
    let overlap = match table.get_key_value("overlap") {
        Some((_, v)) => ctx.bool("overlap", v).unwrap_or(false),
        None => false,
    };
    let Some(v) = table.get("schedule") else {
        if let Some((key, _)) = table.get_key_value("overlap") {
            ctx.error_help(
                key.span(),
                "`overlap` applies only to scheduled services",
                Some("add schedule = \"*/5 * * * *\", or remove `overlap`"),
            );
        }
        return None;
    };
    let expr = ctx.nonempty("schedule", v)?;
    match Schedule::new(&expr, overlap) {
        Ok(s) => {
            if let Some((key, _)) = table.get_key_value("restart") {
                if table
                    .get("restart")
                    .is_some_and(|r| r.get_ref().as_str() == Some("always"))
                {
                    ctx.error_help(
                        key.span(),
                        "a scheduled job cannot have restart = \"always\": it would run for ever",
                        Some("use restart = \"on-failure\" (the default) or \"no\""),
                    );
                }
            }
            Some(s)
        }
        Err(e) => {
            ctx.error_help(
                v.span(),
                format!("`schedule` = {expr:?} is not a cron expression: {e}"),
                Some(
                    "write five fields (\"*/5 * * * *\") or six with seconds (\"*/10 * * * * *\")",
                ),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use crate::spec::tests::{error, parse};

    const HEAD: &str = "[service.job]\ncommand = \"run\"\n";

    #[test]
    fn five_or_six_fields_parse() {
        let spec = parse(&format!("{HEAD}schedule = \"*/5 * * * *\"\n")).expect("valid");
        let s = spec.services[0].schedule.clone().expect("schedule");
        assert!(!s.overlap);
        assert!(!spec.services[0].autostarts(None));
        let spec = parse(&format!(
            "{HEAD}schedule = \"*/2 * * * * *\"\noverlap = true\n"
        ))
        .expect("valid");
        let s = spec.services[0].schedule.clone().expect("schedule");
        assert!(s.overlap);
        let t = UNIX_EPOCH + Duration::from_secs(1_000_000_001);
        let next = s.next_after(t).expect("next");
        let secs = next
            .duration_since(UNIX_EPOCH)
            .expect("after epoch")
            .as_secs();
        assert_eq!(secs, 1_000_000_002);
    }

    #[test]
    fn bad_values_are_placed() {
        let (line, col, msg) = error(&format!("{HEAD}schedule = \"* * *\"\n"));
        assert_eq!((line, col), (3, 12));
        assert!(msg.contains("has 3 fields"), "{msg}");

        let (line, col, msg) = error(&format!("{HEAD}schedule = \"61 * * * *\"\n"));
        assert_eq!((line, col), (3, 12));
        assert!(msg.contains("not a cron expression"), "{msg}");

        let (line, col, msg) = error(&format!("{HEAD}overlap = true\n"));
        assert_eq!((line, col), (3, 1));
        assert!(msg.contains("only to scheduled services"), "{msg}");

        let (line, col, msg) = error(&format!(
            "{HEAD}schedule = \"* * * * *\"\nrestart = \"always\"\n"
        ));
        assert_eq!((line, col), (4, 1));
        assert!(
            msg.contains("restart = \\\"always\\\"") || msg.contains("restart = \"always\""),
            "{msg}"
        );

        let (line, col, _) = error(&format!("{HEAD}schedule = 5\n"));
        assert_eq!((line, col), (3, 12));
    }
}
