//! Reading one value of a given kind, with a warning and the default when it does not
//! parse.

use std::time::Duration;

use crate::env::Environment;
use crate::warning::ConfigWarning;

pub(super) fn read_bool(
    env: &dyn Environment,
    var: &str,
    default: bool,
    w: &mut Vec<ConfigWarning>,
) -> bool {
    match env.get_non_empty(var) {
        None => default,
        Some(value) if value.eq_ignore_ascii_case("true") => true,
        Some(value) if value.eq_ignore_ascii_case("false") => false,
        Some(value) => {
            w.push(ConfigWarning::new(
                var,
                value,
                "true, false",
                default.to_string(),
            ));
            default
        }
    }
}

pub(super) fn parse_millis(
    var: &str,
    value: String,
    default: u64,
    w: &mut Vec<ConfigWarning>,
) -> Duration {
    match value.parse::<u64>() {
        Ok(millis) => Duration::from_millis(millis),
        Err(_) => {
            w.push(ConfigWarning::new(
                var,
                value,
                "a whole number of milliseconds",
                default.to_string(),
            ));
            Duration::from_millis(default)
        }
    }
}

pub(super) fn read_millis(
    env: &dyn Environment,
    var: &str,
    default: u64,
    w: &mut Vec<ConfigWarning>,
) -> Duration {
    match env.get_non_empty(var) {
        None => Duration::from_millis(default),
        Some(value) => parse_millis(var, value, default, w),
    }
}

pub(super) fn read_count(
    env: &dyn Environment,
    var: &str,
    default: u64,
    w: &mut Vec<ConfigWarning>,
) -> u64 {
    let Some(value) = env.get_non_empty(var) else {
        return default;
    };
    match value.parse::<u64>() {
        Ok(count) => count,
        Err(_) => {
            w.push(ConfigWarning::new(
                var,
                value,
                "a whole number",
                default.to_string(),
            ));
            default
        }
    }
}
