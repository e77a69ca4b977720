//! Kubernetes name rules (apimachinery's `IsDNS1123Label`, `IsDNS1123Subdomain`, `IsDNS1035Label`), as
//! error messages that say what a valid name looks like.

/// A DNS-1123 label: 1–63 lower-case letters, digits or `-`, starting and ending with a letter or digit
/// (Namespace names).
pub fn dns1123_label(name: &str) -> Result<(), String> {
    if is_label(name, |c| c.is_ascii_lowercase() || c.is_ascii_digit()) {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid DNS-1123 label: use at most 63 lower-case letters, digits or '-', starting and \
             ending with a letter or digit (e.g. my-name)"
        ))
    }
}

/// A DNS-1035 label: like a DNS-1123 label but starting with a letter (Service names).
pub fn dns1035_label(name: &str) -> Result<(), String> {
    if is_label(name, |c| c.is_ascii_lowercase()) {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid DNS-1035 label: use at most 63 lower-case letters, digits or '-', starting with \
             a letter and ending with a letter or digit (e.g. my-name)"
        ))
    }
}

/// A DNS-1123 subdomain: at most 253 characters, dot-separated DNS-1123 labels (most object names).
pub fn dns1123_subdomain(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .split('.')
            .all(|part| is_label(part, |c| c.is_ascii_lowercase() || c.is_ascii_digit()));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid DNS-1123 subdomain: use at most 253 lower-case letters, digits, '-' or '.', \
             starting and ending with a letter or digit (e.g. example.com)"
        ))
    }
}

fn is_label(s: &str, first_ok: impl Fn(char) -> bool) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.starts_with(first_ok)
        && s.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_rules() {
        for ok in ["a", "web-1", "0abc", &"a".repeat(63)] {
            assert!(dns1123_label(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "a-", "A", "a.b", &"a".repeat(64)] {
            assert!(dns1123_label(bad).is_err(), "{bad}");
        }
        assert!(dns1035_label("web").is_ok());
        assert!(dns1035_label("1web").is_err());
        for ok in ["deployments.apps", "a", "x-1.example.com"] {
            assert!(dns1123_subdomain(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a..b", ".a", "A.b", &"a".repeat(254)] {
            assert!(dns1123_subdomain(bad).is_err(), "{bad}");
        }
        assert_eq!(
            dns1123_label("Web").err().as_deref(),
            Some(
                "\"Web\" is not a valid DNS-1123 label: use at most 63 lower-case letters, digits or '-', starting \
                 and ending with a letter or digit (e.g. my-name)"
            )
        );
    }
}
