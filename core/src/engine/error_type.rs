//! `error.type` for the error a handler returned.
//!
//! The conventions ask for the error's type — "its canonical class name" — and for `_OTHER`
//! when there is none. Rust knows a handler's error type statically, which is exact for a
//! concrete type (`my_crate::OrderError`), but says nothing for the type-erased containers
//! most handlers return: `Box<dyn Error + Send + Sync>`,
//! `anyhow::Error`, `String`. For those, the type behind the container is read off the
//! error itself:
//!
//! * the standard library's errors that erase well (`std::io::Error`, number and UTF-8
//!   parse errors) are recognised by downcasting a box;
//! * otherwise the error's own `Debug` output names it, as derived `Debug` does: the leading
//!   name of `OrderError { id: 43 }` or of an enum variant `NotFound(43)`. `anyhow::Error`
//!   and `eyre::Report` print the error they wrap with `{:#?}`, which is what is read;
//! * an error that is only a message (a `String`, a `&str`, `anyhow!("…")`, `"…".into()`)
//!   has no type: `_OTHER`, with the message left for the span status.

use std::any::Any;
use std::error::Error;
use std::fmt::{self, Write as _};

/// `error.type` when an error has no type of its own, as the conventions name it.
pub const OTHER_ERROR_TYPE: &str = "_OTHER";

/// The standard library's errors whose `Debug` does not name them, for anything with an
/// `is::<T>()` (`dyn Any`, `dyn Error`).
macro_rules! known_std_type {
    ($value:expr) => {
        if $value.is::<std::io::Error>() {
            Some("std::io::Error")
        } else if $value.is::<std::num::ParseIntError>() {
            Some("std::num::ParseIntError")
        } else if $value.is::<std::num::ParseFloatError>() {
            Some("std::num::ParseFloatError")
        } else if $value.is::<std::str::Utf8Error>() {
            Some("std::str::Utf8Error")
        } else if $value.is::<std::string::FromUtf8Error>() {
            Some("std::string::FromUtf8Error")
        } else if $value.is::<fmt::Error>() {
            Some("std::fmt::Error")
        } else {
            None
        }
    };
}

/// The `error.type` of `error`: its type when that is concrete, else the type behind the
/// box, `anyhow::Error` or `eyre::Report` it is in, else [`OTHER_ERROR_TYPE`]. See the
/// module documentation for the rules.
///
/// ```
/// use otel_faas_core::engine::error_type_of;
///
/// #[derive(Debug)]
/// struct OrderRejected { order: u64 }
/// impl std::fmt::Display for OrderRejected {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         write!(f, "order {} was rejected", self.order)
///     }
/// }
/// impl std::error::Error for OrderRejected {}
///
/// assert_eq!(error_type_of(&std::io::Error::other("disk full")), "std::io::Error");
/// let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(OrderRejected { order: 43 });
/// assert_eq!(error_type_of(&boxed), "OrderRejected");
/// let io: Box<dyn std::error::Error + Send + Sync> = Box::new(std::io::Error::other("disk full"));
/// assert_eq!(error_type_of(&io), "std::io::Error");
/// let message: Box<dyn std::error::Error + Send + Sync> = "no items".into();
/// assert_eq!(error_type_of(&message), "_OTHER");
/// assert_eq!(error_type_of(&String::from("no items")), "_OTHER");
/// ```
pub fn error_type_of<E: fmt::Debug + 'static>(error: &E) -> String {
    let any: &dyn Any = error;
    if let Some(typed) = any.downcast_ref::<TypedError>() {
        return typed.error_type.clone();
    }
    if any.is::<String>() || any.is::<&'static str>() {
        return OTHER_ERROR_TYPE.to_owned();
    }
    if let Some(name) = known_std_type!(any) {
        return name.to_owned();
    }
    let boxed: Option<&(dyn Error + 'static)> =
        if let Some(b) = any.downcast_ref::<Box<dyn Error + Send + Sync>>() {
            Some(b.as_ref())
        } else if let Some(b) = any.downcast_ref::<Box<dyn Error + Send>>() {
            Some(b.as_ref())
        } else if let Some(b) = any.downcast_ref::<Box<dyn Error>>() {
            Some(b.as_ref())
        } else {
            None
        };
    if let Some(inner) = boxed {
        return known_std_type!(inner)
            .map(str::to_owned)
            .or_else(|| debug_name(inner))
            .unwrap_or_else(|| OTHER_ERROR_TYPE.to_owned());
    }
    let static_name = short_type_name::<E>();
    if WRAPPERS.contains(&static_name.as_str()) {
        return debug_name(error).unwrap_or_else(|| OTHER_ERROR_TYPE.to_owned());
    }
    static_name
}

/// An error whose `error.type` was decided where its type was still known: what a
/// platform integration returns after erasing the types of the handlers it dispatches to
/// (one handler per function, each with its own error type). [`error_type_of`] reads the
/// stored name; the message is the span's status description.
///
/// ```
/// use otel_faas_core::engine::{TypedError, error_type_of};
///
/// let io = std::io::Error::other("disk full");
/// let erased = TypedError::of(&io, io.to_string());
/// assert_eq!(error_type_of(&erased), "std::io::Error");
/// assert_eq!(erased.to_string(), "disk full");
/// assert_eq!(error_type_of(&TypedError::new("invalid_input", "no body")), "invalid_input");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TypedError {
    error_type: String,
    message: String,
}

impl TypedError {
    /// An error of type `error_type` (low-cardinality, as `error.type` must be).
    pub fn new(error_type: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            error_type: error_type.into(),
            message: message.into(),
        }
    }

    /// `error`, named by [`error_type_of`] now, with `message`.
    pub fn of<E: fmt::Debug + 'static>(error: &E, message: impl Into<String>) -> Self {
        Self::new(error_type_of(error), message)
    }

    /// The `error.type`.
    pub fn error_type(&self) -> &str {
        &self.error_type
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Error containers whose `{:#?}` prints the error they wrap.
const WRAPPERS: [&str; 2] = ["anyhow::Error", "eyre::Report"];

/// The name derived `Debug` starts with — `OrderError` of `OrderError { id: 43 }`,
/// `NotFound` of `NotFound(43)`, `a::B` of `a::B` — if it starts with a name at all (a
/// message prints as a quoted string). Only the first [`DEBUG_PREFIX`] bytes are formatted.
fn debug_name(error: &dyn fmt::Debug) -> Option<String> {
    let mut prefix = Prefix(String::new());
    // The writer stops the formatting once it has enough: the error is expected.
    let _ = write!(prefix, "{error:#?}");
    let text = prefix.0;
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(text.len());
    let name = &text[..end];
    let starts_like_a_type = name.chars().next().is_some_and(|c| c.is_ascii_uppercase());
    let well_formed = name
        .split("::")
        .all(|part| !part.is_empty() && !part.contains(':'));
    let followed_well = text[end..]
        .chars()
        .next()
        .is_none_or(|c| matches!(c, ' ' | '(' | '{' | '\n'));
    (starts_like_a_type && well_formed && followed_well).then(|| name.to_owned())
}

/// How much of an error's `Debug` output is formatted to find its name.
const DEBUG_PREFIX: usize = 128;

/// A writer that keeps the first [`DEBUG_PREFIX`] bytes and then stops the formatting.
struct Prefix(String);

impl fmt::Write for Prefix {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = DEBUG_PREFIX.saturating_sub(self.0.len());
        if s.len() <= room {
            self.0.push_str(s);
            return Ok(());
        }
        let mut cut = room;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        self.0.push_str(&s[..cut]);
        Err(fmt::Error)
    }
}

/// The type's name for `error.type`: the full path, so it stays unambiguous, with the
/// standard library's prefixes trimmed.
fn short_type_name<T: ?Sized>() -> String {
    std::any::type_name::<T>()
        .replace("alloc::boxed::", "")
        .replace("core::error::", "")
        .replace("core::marker::", "")
        .replace("alloc::string::", "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct OrderError {
        #[allow(dead_code)]
        id: u64,
    }

    impl fmt::Display for OrderError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("order error")
        }
    }

    impl Error for OrderError {}

    #[derive(Debug)]
    enum Failure {
        #[allow(dead_code)]
        NotFound(u64),
        Unavailable,
    }

    impl fmt::Display for Failure {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("failure")
        }
    }

    impl Error for Failure {}

    fn boxed(error: impl Error + Send + Sync + 'static) -> Box<dyn Error + Send + Sync> {
        Box::new(error)
    }

    #[test]
    fn concrete_types_are_named_by_their_path() {
        assert_eq!(
            error_type_of(&OrderError { id: 1 }),
            "otel_faas_core::engine::error_type::tests::OrderError"
        );
        assert_eq!(error_type_of(&fmt::Error), "std::fmt::Error");
        assert_eq!(error_type_of(&std::io::Error::other("x")), "std::io::Error");
    }

    #[test]
    fn boxes_are_named_by_what_they_hold() {
        assert_eq!(error_type_of(&boxed(OrderError { id: 43 })), "OrderError");
        assert_eq!(error_type_of(&boxed(Failure::NotFound(43))), "NotFound");
        assert_eq!(error_type_of(&boxed(Failure::Unavailable)), "Unavailable");
        let io = boxed(std::io::Error::new(std::io::ErrorKind::NotFound, "gone"));
        assert_eq!(error_type_of(&io), "std::io::Error");
        let parse = boxed("x".parse::<u32>().unwrap_err());
        assert_eq!(error_type_of(&parse), "std::num::ParseIntError");
        let unsync: Box<dyn Error> = Box::new(OrderError { id: 1 });
        assert_eq!(error_type_of(&unsync), "OrderError");
        let send: Box<dyn Error + Send> = Box::new(OrderError { id: 1 });
        assert_eq!(error_type_of(&send), "OrderError");
    }

    #[test]
    fn messages_have_no_type() {
        let message: Box<dyn Error + Send + Sync> = "no items".into();
        assert_eq!(error_type_of(&message), OTHER_ERROR_TYPE);
        let owned: Box<dyn Error + Send + Sync> = String::from("no items").into();
        assert_eq!(error_type_of(&owned), OTHER_ERROR_TYPE);
        assert_eq!(error_type_of(&"no items"), OTHER_ERROR_TYPE);
        assert_eq!(error_type_of(&String::from("no items")), OTHER_ERROR_TYPE);
    }

    #[test]
    fn debug_names_are_taken_only_when_they_look_like_one() {
        #[derive(Debug)]
        struct Lowercase;
        let names = |text: &'static str| {
            struct Raw(&'static str);
            impl fmt::Debug for Raw {
                fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str(self.0)
                }
            }
            debug_name(&Raw(text))
        };
        assert_eq!(names("Timeout").as_deref(), Some("Timeout"));
        assert_eq!(
            names("a::B { x: 1 }"),
            None,
            "a path must start like a type"
        );
        assert_eq!(names("Db::Timeout(3)").as_deref(), Some("Db::Timeout"));
        assert_eq!(names("\"a message\""), None);
        assert_eq!(names("Error: disk full"), None);
        assert_eq!(names("Bad:::Path"), None);
        assert_eq!(names(""), None);
        assert_eq!(
            names(&*Box::leak("Big ".repeat(100).into_boxed_str())).as_deref(),
            Some("Big")
        );
        assert_eq!(debug_name(&Lowercase).as_deref(), Some("Lowercase"));
    }

    #[test]
    fn the_debug_output_is_cut_short() {
        let mut prefix = Prefix(String::new());
        assert!(write!(prefix, "{}", "é".repeat(200)).is_err());
        assert!(prefix.0.len() <= DEBUG_PREFIX);
        assert!(prefix.0.chars().all(|c| c == 'é'));
    }
}
