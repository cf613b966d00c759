//! A tenant's audit log page settings: its accent colour and the origins
//! that may show the page in an iframe.

use serde::{Deserialize, Serialize};

/// Most origins a tenant may allow to frame its page.
pub const MAX_FRAME_ANCESTORS: usize = 16;

/// How a tenant's page looks and who may embed it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UiSettings {
    /// `#rgb` or `#rrggbb`: links, buttons and the header rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accent_color: Option<String>,
    /// Origins allowed to frame the page, e.g. `https://console.example.com`
    /// or `https://*.example.com`; none (the default) refuses every frame.
    #[serde(default)]
    pub frame_ancestors: Vec<String>,
}

impl UiSettings {
    /// Every rule the settings break, as (field, message).
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if let Some(colour) = &self.accent_color
            && !is_colour(colour)
        {
            problems.push((
                "accent_color".to_owned(),
                format!("{colour:?} is not a colour such as #0a7d55 or #07c"),
            ));
        }
        if self.frame_ancestors.len() > MAX_FRAME_ANCESTORS {
            problems.push((
                "frame_ancestors".to_owned(),
                format!("at most {MAX_FRAME_ANCESTORS} origins"),
            ));
        }
        for (index, origin) in self.frame_ancestors.iter().enumerate() {
            if !is_origin(origin) {
                problems.push((
                    format!("frame_ancestors/{index}"),
                    format!(
                        "{origin:?} is not an origin such as https://console.example.com (scheme, host, optional port; no path)"
                    ),
                ));
            }
        }
        problems
    }
}

fn is_colour(text: &str) -> bool {
    text.strip_prefix('#').is_some_and(|hex| {
        matches!(hex.len(), 3 | 6) && hex.chars().all(|digit| digit.is_ascii_hexdigit())
    })
}

/// `http(s)://host[:port]`, where the host may start with `*.`: what CSP's
/// frame-ancestors takes, and nothing that could end the directive.
fn is_origin(text: &str) -> bool {
    let Some(rest) = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
    else {
        return false;
    };
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (rest, None),
    };
    let host = host.strip_prefix("*.").unwrap_or(host);
    let host_ok = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|character| character.is_ascii_alphanumeric() || character == '-')
        });
    let port_ok = port.is_none_or(|port| {
        !port.is_empty() && port.len() <= 5 && port.chars().all(|digit| digit.is_ascii_digit())
    });
    host_ok && port_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_and_origins() {
        for good in ["#0a7d55", "#07C"] {
            assert!(is_colour(good), "{good}");
        }
        for bad in ["0a7d55", "#0a7d5", "#ggg", "red", "#0a7d55;x"] {
            assert!(!is_colour(bad), "{bad}");
        }
        for good in [
            "https://console.example.com",
            "http://localhost:8080",
            "https://*.example.com",
        ] {
            assert!(is_origin(good), "{good}");
        }
        for bad in [
            "console.example.com",
            "https://example.com/path",
            "https://example.com; script-src *",
            "https://",
            "https://a..b",
            "*",
            "'self'",
            "https://example.com:",
            "javascript:alert(1)",
        ] {
            assert!(!is_origin(bad), "{bad}");
        }
    }

    #[test]
    fn problems_name_each_field() {
        let settings = UiSettings {
            accent_color: Some("blue".into()),
            frame_ancestors: vec!["https://ok.example".into(), "nope".into()],
        };
        let fields: Vec<String> = settings
            .problems()
            .into_iter()
            .map(|(field, _)| field)
            .collect();
        assert_eq!(fields, ["accent_color", "frame_ancestors/1"]);
        assert!(UiSettings::default().problems().is_empty());
    }
}
