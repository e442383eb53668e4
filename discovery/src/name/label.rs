//! Validation of the single DNS labels that make up a service name.

use super::InvalidName;

/// The longest label DNS allows (RFC 1035 §2.3.4).
pub(crate) const MAX_LABEL_LEN: usize = 63;

/// The longest Kubernetes port name (IANA_SVC_NAME, RFC 6335 §5.1).
const MAX_PORT_NAME_LEN: usize = 15;

/// What a label stands for, so errors can name it and say how to write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LabelRole {
    Service,
    Namespace,
    Domain,
}

impl LabelRole {
    fn noun(self) -> &'static str {
        match self {
            LabelRole::Service => "service name",
            LabelRole::Namespace => "namespace",
            LabelRole::Domain => "cluster domain label",
        }
    }
}

/// Checks one label as Kubernetes checks names (RFC 1123: lower-case letters, digits and `-`,
/// starting and ending with a letter or digit, at most 63 characters). Services must also
/// start with a letter (RFC 1035), as the API server demands.
pub(crate) fn check_label(input: &str, label: &str, role: LabelRole) -> Result<(), InvalidName> {
    let noun = role.noun();
    if label.is_empty() {
        return Err(InvalidName::new(input, format!("the {noun} is empty")));
    }
    if label.len() > MAX_LABEL_LEN {
        return Err(InvalidName::new(
            input,
            format!(
                "the {noun} `{label}` is {} characters long; DNS allows at most {MAX_LABEL_LEN}",
                label.len()
            ),
        ));
    }
    if let Some(bad) = label
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(InvalidName::new(
            input,
            format!(
                "the {noun} `{label}` contains {bad:?}; only lower-case letters, digits and '-' are allowed"
            ),
        ));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(InvalidName::new(
            input,
            format!("the {noun} `{label}` must start and end with a letter or digit"),
        ));
    }
    if role == LabelRole::Service && !label.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(InvalidName::new(
            input,
            format!("the {noun} `{label}` must start with a letter"),
        ));
    }
    Ok(())
}

/// An RFC 1123 label as Kubernetes hostnames are: 1 to 63 of `a-z`, `0-9` and `-`,
/// starting and ending with a letter or digit.
pub(crate) fn is_hostname_label(label: &[u8]) -> bool {
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    (1..=63).contains(&label.len())
        && label.iter().all(|b| alnum(b) || *b == b'-')
        && label.first().is_some_and(alnum)
        && label.last().is_some_and(alnum)
}

/// Checks a Kubernetes port name (IANA_SVC_NAME): at most 15 characters, lower-case letters,
/// digits and `-`, at least one letter, no `-` at either end and no `--`.
pub(crate) fn check_port_name(input: &str, name: &str) -> Result<(), InvalidName> {
    let fail = |why: String| Err(InvalidName::new(input, why));
    if name.is_empty() {
        return fail("the port name after `_` is empty".into());
    }
    if name.len() > MAX_PORT_NAME_LEN {
        return fail(format!(
            "the port name `{name}` is {} characters long; Kubernetes allows at most {MAX_PORT_NAME_LEN}",
            name.len()
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return fail(format!(
            "the port name `{name}` contains {bad:?}; only lower-case letters, digits and '-' are allowed"
        ));
    }
    if !name.chars().any(|c| c.is_ascii_lowercase()) {
        return fail(format!(
            "the port name `{name}` needs at least one letter; to use a port number write `svc.ns:{name}`"
        ));
    }
    if name.starts_with('-') || name.ends_with('-') || name.contains("--") {
        return fail(format!(
            "the port name `{name}` must not start or end with '-' or contain '--'"
        ));
    }
    Ok(())
}
