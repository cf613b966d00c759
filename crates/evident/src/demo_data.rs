//! The demo's data: six companies that use the five products of the seed
//! pages, each with its own staff, integrations, resources and habits, and
//! events drawn from them. Pure and deterministic for a seed: `now` comes in.

use evident_core::catalog::Catalog;
use jiff::{SignedDuration, Timestamp};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

pub struct DemoTenant {
    pub id: &'static str,
    pub name: &'static str,
    pub parent: Option<&'static str>,
}

/// Which seed product's vocabulary a company's log speaks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Product {
    PartnerConsole,
    Licensing,
    Reseller,
    Cloud,
    Messaging,
}

struct Company {
    tenant: DemoTenant,
    product: Product,
    domain: &'static str,
    /// Hours east of UTC: people work 8:00–18:00 local.
    utc_offset: i64,
    /// Share of all events.
    weight: u32,
    staff: &'static [&'static str],
    services: &'static [&'static str],
}

const COMPANIES: &[Company] = &[
    Company {
        tenant: DemoTenant {
            id: "northwind",
            name: "Northwind Partners",
            parent: None,
        },
        product: Product::PartnerConsole,
        domain: "northwind.example",
        utc_offset: -5,
        weight: 22,
        staff: &[
            "Grace Hopper",
            "Alan Turing",
            "Radia Perlman",
            "Ken Thompson",
            "Frances Allen",
            "Linus Torvalds",
            "Hedy Lamarr",
        ],
        services: &["PSA connector", "Terraform provider"],
    },
    Company {
        tenant: DemoTenant {
            id: "northwind-contoso",
            name: "Contoso Pharmaceuticals",
            parent: Some("northwind"),
        },
        product: Product::PartnerConsole,
        domain: "contoso.example",
        utc_offset: 1,
        weight: 11,
        staff: &[
            "Ada Lovelace",
            "Niklaus Wirth",
            "Sophie Wilson",
            "Tim Berners-Lee",
            "Barbara Liskov",
        ],
        services: &["SCIM sync"],
    },
    Company {
        tenant: DemoTenant {
            id: "northwind-fabrikam",
            name: "Fabrikam Logistics",
            parent: Some("northwind"),
        },
        product: Product::PartnerConsole,
        domain: "fabrikam.example",
        utc_offset: -8,
        weight: 9,
        staff: &[
            "Katherine Johnson",
            "Dennis Ritchie",
            "Margaret Hamilton",
            "John McCarthy",
        ],
        services: &["SCIM sync"],
    },
    Company {
        tenant: DemoTenant {
            id: "lumen-software",
            name: "Lumen Software",
            parent: None,
        },
        product: Product::Licensing,
        domain: "lumen.example",
        utc_offset: 2,
        weight: 18,
        staff: &[
            "Edsger Dijkstra",
            "Shafi Goldwasser",
            "Leslie Lamport",
            "Anders Hejlsberg",
            "Guido van Rossum",
            "Bjarne Stroustrup",
        ],
        services: &["Billing webhook", "Salesforce sync"],
    },
    Company {
        tenant: DemoTenant {
            id: "bluepeak",
            name: "Bluepeak Security Resellers",
            parent: None,
        },
        product: Product::Reseller,
        domain: "bluepeak.example",
        utc_offset: 10,
        weight: 12,
        staff: &[
            "Yukihiro Matsumoto",
            "Donald Knuth",
            "Joan Clarke",
            "Annie Easley",
            "Jean Bartik",
        ],
        services: &["Provisioning API"],
    },
    Company {
        tenant: DemoTenant {
            id: "orbital-labs",
            name: "Orbital Labs",
            parent: None,
        },
        product: Product::Cloud,
        domain: "orbital.example",
        utc_offset: 0,
        weight: 16,
        staff: &[
            "Carl Sagan",
            "Vera Rubin",
            "Mae Jemison",
            "Chien-Shiung Wu",
            "Claude Shannon",
            "Lise Meitner",
            "Alan Kay",
        ],
        services: &["CI runner", "Terraform provider"],
    },
    Company {
        tenant: DemoTenant {
            id: "relay-chat",
            name: "Relay Chat Inc.",
            parent: None,
        },
        product: Product::Messaging,
        domain: "relaychat.example",
        utc_offset: 5,
        weight: 12,
        staff: &[
            "Whitfield Diffie",
            "Martin Hellman",
            "Ron Rivest",
            "Adi Shamir",
            "Len Adleman",
            "Dorothy Denning",
        ],
        services: &["Deploy bot", "MCP assistant"],
    },
];

/// (action, weight, target types) in each product's own naming, as on its page.
type Vocabulary = &'static [(&'static str, u32, &'static [&'static str])];

const PARTNER_CONSOLE: Vocabulary = &[
    ("user.token_created", 300, &["token"]),
    ("user.token_deleted", 220, &["token"]),
    ("user.created", 30, &["user"]),
    ("user.username_changed", 10, &["user"]),
    ("user.email_changed", 10, &["user"]),
    ("user.expiration_changed", 8, &["user"]),
    ("user.password_changed", 20, &["user"]),
    ("user.role_changed", 20, &["user"]),
    ("user.deleted", 8, &["user"]),
    ("account.company_email_changed", 4, &["account"]),
    ("account.company_name_changed", 2, &["account"]),
    ("account.language_changed", 3, &["account"]),
    ("security.sso_enabled", 2, &["sso_config"]),
    ("security.sso_disabled", 1, &["sso_config"]),
    ("security.sso_config_created", 2, &["sso_config"]),
    ("security.sso_config_edited", 4, &["sso_config"]),
    ("security.sso_config_deleted", 1, &["sso_config"]),
    ("security.mfa_enabled", 5, &["account"]),
    ("security.mfa_disabled", 2, &["account"]),
    ("security.mfa_trusted_ips_updated", 4, &["account"]),
    ("security.mfa_totp_updated", 4, &["account"]),
    ("subaccount.created", 10, &["subaccount"]),
    ("subaccount.deleted", 3, &["subaccount"]),
    ("subaccount.language_changed", 3, &["subaccount"]),
    ("subaccount.product_changed", 10, &["subaccount", "product"]),
    ("subaccount.custom_property_created", 5, &["subaccount"]),
    ("subaccount.custom_property_edited", 8, &["subaccount"]),
    ("subaccount.custom_property_deleted", 2, &["subaccount"]),
    ("subaccount.product_added", 10, &["subaccount", "product"]),
    ("subaccount.contact_email_changed", 4, &["subaccount"]),
    ("subaccount.user_created", 20, &["subaccount", "user"]),
    (
        "subaccount.user_password_changed",
        10,
        &["subaccount", "user"],
    ),
    ("subaccount.user_role_changed", 6, &["subaccount", "user"]),
    ("subaccount.user_deleted", 4, &["subaccount", "user"]),
];

const LICENSING: Vocabulary = &[
    ("platform_user_added", 5, &["user"]),
    ("platform_user_updated", 10, &["user"]),
    ("platform_user_removed", 2, &["user"]),
    ("user_permission_template_created", 1, &["template"]),
    ("user_permission_template_permissions_set", 2, &["template"]),
    ("notification_policy_updated", 2, &["policy"]),
    ("product_created", 3, &["product"]),
    ("product_updated", 10, &["product"]),
    ("product_archived", 1, &["product"]),
    ("customer_created", 30, &["customer"]),
    ("customer_updated", 40, &["customer"]),
    ("customer_deleted", 5, &["customer"]),
    ("order_created", 60, &["order", "customer"]),
    ("order_updated", 40, &["order"]),
    ("order_manager_added", 5, &["order", "user"]),
    ("license_created", 100, &["license", "order"]),
    ("license_updated", 120, &["license"]),
    ("license_reset", 20, &["license"]),
    ("license_disabled", 10, &["license"]),
    ("license_enabled", 10, &["license"]),
    ("license_consumption_reset", 20, &["license"]),
    ("license_user_assigned", 60, &["license", "user"]),
    ("license_user_unassigned", 30, &["license", "user"]),
    ("license_features_updated", 20, &["license"]),
    ("license_deleted", 5, &["license"]),
    ("device_reset", 30, &["device", "license"]),
    ("device_blacklisted", 5, &["device", "license"]),
    ("device_borrowed", 40, &["device", "license"]),
    ("device_borrow_released", 40, &["device", "license"]),
];

const RESELLER: Vocabulary = &[
    ("client.created", 30, &["client"]),
    ("client.suspended", 10, &["client"]),
    ("client.reactivated", 7, &["client"]),
    ("client.deleted", 4, &["client"]),
    ("license.allocated", 80, &["client", "license"]),
    ("license.revoked", 40, &["client", "license"]),
];

const CLOUD: Vocabulary = &[
    ("USER_REGISTERED", 1, &[]),
    ("USER_LOGIN", 400, &[]),
    ("USER_CREATED", 10, &["user"]),
    ("USER_UPDATED", 20, &["user"]),
    ("USER_DELETED", 4, &["user"]),
    ("SESSION_STARTED", 250, &["session", "resource"]),
    ("SESSION_STOPPED", 120, &["session"]),
    ("SESSION_EXTENDED", 40, &["session"]),
    ("SESSION_EXPIRED", 90, &["session"]),
    ("RESOURCE_CREATED", 20, &["resource"]),
    ("RESOURCE_UPDATED", 30, &["resource"]),
    ("RESOURCE_DELETED", 10, &["resource"]),
    ("CREDENTIAL_CREATED", 5, &["credential"]),
    ("CREDENTIAL_DELETED", 3, &["credential"]),
    ("ROLE_CREATED", 2, &["role"]),
    ("ROLE_UPDATED", 4, &["role"]),
    ("ROLE_DELETED", 1, &["role"]),
];

const MESSAGING: Vocabulary = &[
    ("UserRoleAdded", 20, &["user"]),
    ("UserRoleRevoked", 10, &["user"]),
    ("UserAccountAccessGranted", 15, &["user"]),
    ("UserAccountAccessRevoked", 8, &["user"]),
    ("UserAcceptedInvitation", 15, &["user"]),
    ("AppCreated", 10, &["app"]),
    ("AppRenamed", 4, &["app"]),
    ("AppDisabled", 2, &["app"]),
    ("AppChanged", 10, &["app"]),
    ("KeysetCreated", 20, &["keyset", "app"]),
    ("KeysetRenamed", 5, &["keyset"]),
    ("KeysetDisabled", 3, &["keyset"]),
    ("KeysetEnabled", 3, &["keyset"]),
    ("KeysetTypeChanged", 5, &["keyset"]),
    ("KeysetConfigChanged", 120, &["keyset", "app"]),
    ("SecretKeyRotated", 10, &["keyset"]),
    ("ServiceIntegrationCreated", 4, &["integration"]),
    ("ServiceIntegrationUpdated", 6, &["integration"]),
    ("ApiKeyCreated", 8, &["integration", "api_key"]),
    ("ApiKeyRevoked", 4, &["integration", "api_key"]),
    ("OemCustomerCreated", 5, &["customer"]),
    ("OemCustomerKeysetsAssigned", 6, &["customer", "keyset"]),
    ("AccountAuthSettingsUpdated", 3, &["account"]),
    ("VersionPinned", 3, &["account"]),
];

fn vocabulary(product: Product) -> Vocabulary {
    match product {
        Product::PartnerConsole => PARTNER_CONSOLE,
        Product::Licensing => LICENSING,
        Product::Reseller => RESELLER,
        Product::Cloud => CLOUD,
        Product::Messaging => MESSAGING,
    }
}

const BROWSERS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
];
const API_CLIENTS: &[&str] = &[
    "python-requests/2.32.3",
    "curl/8.10.1",
    "Go-http-client/2.0",
    "admin-cli/4.2.1 (linux; amd64)",
    "node-fetch/3.3.2",
];
const SERVICE_AGENTS: &[&str] = &[
    "terraform-provider/2.14.0",
    "scim-client/1.8",
    "Go-http-client/2.0",
    "webhook-relay/0.9",
];
const REGIONS: &[&str] = &[
    "eu-west-1",
    "us-east-1",
    "us-west-2",
    "ap-southeast-2",
    "eu-central-1",
];
const REASONS: &[&str] = &[
    "offboarding",
    "onboarding",
    "renewal",
    "upgrade",
    "downgrade",
    "quarterly review",
    "support ticket",
    "incident follow-up",
];
const POOLS: &[&str] = &["enterprise", "standard", "trial", "education"];
const PRODUCTS: &[&str] = &[
    "Endpoint Protection",
    "Backup Pro",
    "Mail Security",
    "Patch Manager",
    "Remote Access",
];
const CUSTOMER_COMPANIES: &[&str] = &[
    "Globex",
    "Initech",
    "Umbrella Health",
    "Stark Freight",
    "Wayne Foods",
    "Tyrell Optics",
    "Soylent Farms",
    "Wonka Sweets",
    "Aperture Labs",
    "Vandelay Imports",
    "Dunder Paper",
    "Oscorp Chemicals",
    "Monarch Travel",
];
const APPS: &[&str] = &[
    "Support Chat",
    "Rider App",
    "Ops Dashboard",
    "Kiosk",
    "Field Service",
];

/// A person or integration that acts.
struct Person {
    id: String,
    name: String,
    email: Option<String>,
    ip: String,
}

fn short_id(rng: &mut StdRng, prefix: &str) -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let tail: String = (0..6)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{prefix}_{tail}")
}

fn ip(rng: &mut StdRng) -> String {
    match rng.random_range(0..4) {
        0 => format!("192.0.2.{}", rng.random_range(1..255)),
        1 => format!("198.51.100.{}", rng.random_range(1..255)),
        2 => format!("203.0.113.{}", rng.random_range(1..255)),
        _ => format!(
            "2001:db8:{:x}::{:x}",
            rng.random_range(1..0xffff),
            rng.random_range(1..0xffff)
        ),
    }
}

fn email_of(name: &str, domain: &str) -> String {
    let local: String = name
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(".")
        .chars()
        .filter(|character| {
            character.is_ascii_alphanumeric() || *character == '.' || *character == '-'
        })
        .collect();
    format!("{local}@{domain}")
}

/// Staff and integrations of one company, with stable ids and addresses.
struct Cast {
    staff: Vec<Person>,
    services: Vec<Person>,
}

fn cast(company: &Company, rng: &mut StdRng) -> Cast {
    let staff = company
        .staff
        .iter()
        .map(|name| Person {
            id: short_id(rng, "usr"),
            name: (*name).to_owned(),
            email: Some(email_of(name, company.domain)),
            ip: ip(rng),
        })
        .collect();
    let services = company
        .services
        .iter()
        .map(|name| Person {
            id: short_id(rng, "svc"),
            name: (*name).to_owned(),
            email: None,
            ip: ip(rng),
        })
        .collect();
    Cast { staff, services }
}

/// A target of the given type, from a small stable pool per company.
fn target(kind: &str, company: &Company, cast: &Cast, rng: &mut StdRng) -> Value {
    let pick = rng.random_range(0..40u32);
    let mut object = Map::new();
    object.insert("type".into(), json!(kind));
    let (id, name, email): (String, String, Option<String>) = match kind {
        "user" => {
            let person = cast.staff.choose(rng).expect("every company has staff");
            (person.id.clone(), person.name.clone(), person.email.clone())
        }
        "client" | "customer" | "subaccount" => {
            let company_name = CUSTOMER_COMPANIES[pick as usize % CUSTOMER_COMPANIES.len()];
            let slug = company_name.to_lowercase().replace(' ', "-");
            (
                format!("{}_{slug}", &kind[..3]),
                company_name.to_owned(),
                Some(format!("it@{slug}.example")),
            )
        }
        "license" => (
            format!("lic_{:05}", 10_000 + pick * 37),
            format!("{} seat {}", POOLS[pick as usize % POOLS.len()], pick + 1),
            None,
        ),
        "order" => (
            format!("ord_{:05}", 20_000 + pick * 53),
            format!("Order #{}", 4100 + pick),
            None,
        ),
        "device" => (
            format!("dev_{:05}", 30_000 + pick * 11),
            format!("LAPTOP-{:04X}", pick * 977),
            None,
        ),
        "product" => {
            let product = PRODUCTS[pick as usize % PRODUCTS.len()];
            (
                format!("prd_{}", product.to_lowercase().replace(' ', "_")),
                product.to_owned(),
                None,
            )
        }
        "keyset" => {
            let region = ["eu", "us", "ap"][pick as usize % 3];
            let stage = if pick % 4 == 0 { "test" } else { "prod" };
            (
                format!("ks_{stage}_{region}_{}", pick % 5),
                format!("{stage}-{region}-keyset"),
                None,
            )
        }
        "app" => {
            let app = APPS[pick as usize % APPS.len()];
            (
                format!("app_{}", app.to_lowercase().replace(' ', "_")),
                app.to_owned(),
                None,
            )
        }
        "account" => (
            format!("acct_{}", company.tenant.id),
            company.tenant.name.to_owned(),
            None,
        ),
        "session" => (
            short_id(rng, "ses"),
            format!("session {}", REGIONS[pick as usize % REGIONS.len()]),
            None,
        ),
        "resource" => (
            format!("res_vm_{:03}", pick),
            format!("vm-{}-{:02}", REGIONS[pick as usize % REGIONS.len()], pick),
            None,
        ),
        "sso_config" => ("sso_okta".to_owned(), "Okta SAML".to_owned(), None),
        "token" => (short_id(rng, "tok"), "API token".to_owned(), None),
        "integration" => {
            let service = cast
                .services
                .choose(rng)
                .expect("every company has an integration");
            (service.id.clone(), service.name.clone(), None)
        }
        other => (
            format!("{}_{pick:03}", &other[..other.len().min(3)]),
            format!("{other} {pick}"),
            None,
        ),
    };
    object.insert("id".into(), json!(id));
    object.insert("name".into(), json!(name));
    if let Some(email) = email {
        object.insert("email".into(), json!(email));
    }
    Value::Object(object)
}

/// The words of an action, lower-case: `KeysetConfigChanged` → keyset config changed.
fn action_words(action: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut previous_lower = false;
    for character in action.chars() {
        if matches!(character, '.' | '_' | ':' | '/' | '-') {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            previous_lower = false;
            continue;
        }
        if character.is_uppercase() && previous_lower && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        previous_lower = character.is_lowercase();
        current.extend(character.to_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// A sentence such as "Grace Hopper revoked license standard seat 3".
fn describe(actor: &str, action: &str, targets: &[Value]) -> String {
    let mut words = action_words(action);
    let label = targets
        .first()
        .and_then(|target| target["name"].as_str())
        .unwrap_or("");
    if words.last().is_some_and(|word| word == "login") {
        return format!("{actor} signed in");
    }
    let verb = match words.last() {
        Some(word) if word.ends_with('d') || word == "set" || word == "reset" => words.pop(),
        _ => None,
    };
    if words.len() > 1
        && matches!(
            words[0].as_str(),
            "user" | "account" | "security" | "subaccount" | "client"
        )
    {
        words.remove(0);
    }
    let object = words.join(" ");
    match verb {
        Some(verb) if label.is_empty() => format!("{actor} {verb} {object}"),
        Some(verb) => format!("{actor} {verb} {object} {label}"),
        None => format!("{actor}: {object} {label}").trim_end().to_owned(),
    }
}

fn metadata(action: &str, failed: bool, rng: &mut StdRng) -> Value {
    let words = action_words(action);
    let has = |word: &str| words.iter().any(|part| part == word);
    if failed {
        let reason = [
            "invalid_password",
            "mfa_timeout",
            "permission_denied",
            "rate_limited",
        ]
        .choose(rng)
        .copied();
        return json!({ "reason": reason, "attempt": rng.random_range(1..4) });
    }
    if has("login") {
        let method = ["password", "sso", "passkey"].choose(rng).copied();
        return json!({ "method": method, "mfa": rng.random_bool(0.8) });
    }
    if has("session") {
        return json!({ "region": REGIONS.choose(rng), "duration_minutes": rng.random_range(5..480) });
    }
    if has("config") && has("keyset") {
        let retention = [30, 90, 365].choose(rng).copied();
        return json!({ "changes": {
            "storage_and_playback": {"old": false, "new": true},
            "retention_days": {"old": 7, "new": retention}
        }});
    }
    if has("mfa") {
        return json!({ "method": "totp", "trusted_ips": ["203.0.113.0/24", "2001:db8:1::/48"] });
    }
    if has("license") || has("allocated") || has("revoked") {
        return json!({ "pool": POOLS.choose(rng), "seats": rng.random_range(1..50), "reason": REASONS.choose(rng) });
    }
    if words
        .last()
        .is_some_and(|word| word == "changed" || word == "updated" || word == "edited")
    {
        let field = words
            .iter()
            .rev()
            .nth(1)
            .cloned()
            .unwrap_or_else(|| "settings".to_owned());
        return json!({ "field": field, "reason": REASONS.choose(rng) });
    }
    json!({ "region": REGIONS.choose(rng), "reason": REASONS.choose(rng) })
}

/// A moment in the 90 days before `now`: working hours and weekdays more often.
fn moment(now: Timestamp, utc_offset: i64, rng: &mut StdRng) -> Timestamp {
    loop {
        let days_ago = rng.random_range(0..90i64);
        let local_hour = if rng.random_bool(0.85) {
            rng.random_range(8..18i64)
        } else {
            rng.random_range(0..24i64)
        };
        let seconds_into_day = local_hour * 3600 + rng.random_range(0..3600i64);
        let today = now.as_second() - now.as_second().rem_euclid(86_400);
        let second = today - days_ago * 86_400 + seconds_into_day - utc_offset * 3600;
        let millis = rng.random_range(0..1000i64);
        let Ok(candidate) = Timestamp::from_second(second)
            .map(|instant| instant + SignedDuration::from_millis(millis))
        else {
            continue;
        };
        // 1970-01-01 was a Thursday: weekday 0 = Thursday.
        let weekday = (second + utc_offset * 3600)
            .div_euclid(86_400)
            .rem_euclid(7);
        let weekend = weekday == 2 || weekday == 3;
        if candidate > now
            || candidate <= now - SignedDuration::from_hours(90 * 24)
            || (weekend && rng.random_bool(0.75))
        {
            continue;
        }
        return candidate;
    }
}

/// Tenants in creation order (parents before children).
pub fn demo_tenants() -> Vec<DemoTenant> {
    COMPANIES
        .iter()
        .map(|company| DemoTenant {
            id: company.tenant.id,
            name: company.tenant.name,
            parent: company.tenant.parent,
        })
        .collect()
}

/// `count` events over the 90 days before `now`, as (tenant id, event in the ingest shape), oldest first.
pub fn demo_events(now: Timestamp, count: usize, seed: u64) -> Vec<(&'static str, Value)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let casts: Vec<Cast> = COMPANIES
        .iter()
        .map(|company| cast(company, &mut rng))
        .collect();
    let catalogs: Vec<Catalog> = COMPANIES
        .iter()
        .map(|company| {
            Catalog::from_toml(catalog_text(company.product))
                .expect("the example catalogs load (tested)")
        })
        .collect();
    let partner = COMPANIES.iter().position(|company| {
        company.tenant.parent.is_none() && company.product == Product::PartnerConsole
    });
    // Every event type of every company's catalog occurs; the rest follow the weights.
    let mut planned: Vec<(usize, String)> = COMPANIES
        .iter()
        .enumerate()
        .flat_map(|(index, _)| {
            catalogs[index]
                .event_types()
                .map(move |event_type| (index, event_type.spec.action.clone()))
        })
        .collect();
    planned.truncate(count);
    let total_weight: u32 = COMPANIES.iter().map(|company| company.weight).sum();
    while planned.len() < count {
        let mut ticket = rng.random_range(0..total_weight);
        let company_index = COMPANIES
            .iter()
            .position(|company| {
                if ticket < company.weight {
                    true
                } else {
                    ticket -= company.weight;
                    false
                }
            })
            .unwrap_or(0);
        let action = weighted_action(
            &catalogs[company_index],
            vocabulary(COMPANIES[company_index].product),
            &mut rng,
        );
        planned.push((company_index, action));
    }
    let mut events: Vec<(Timestamp, &'static str, Value)> = Vec::with_capacity(count + count / 50);
    for (company_index, action) in planned {
        let company = &COMPANIES[company_index];
        let spec = &catalogs[company_index]
            .event_type(&action)
            .expect("planned from the catalog")
            .spec;
        // A sub-account's log also shows the partner's technicians at work.
        let acting_cast = match partner {
            Some(partner) if company.tenant.parent.is_some() && rng.random_bool(0.3) => {
                &casts[partner]
            }
            _ => &casts[company_index],
        };
        let allows = |channel: &str| {
            spec.channels.is_empty() || spec.channels.iter().any(|allowed| allowed == channel)
        };
        let system = action == "SESSION_EXPIRED";
        let service = !system && allows("api") && rng.random_bool(0.12);
        let failed = !system && rng.random_bool(0.02);
        let channel = if service {
            "api"
        } else if allows("mcp") && rng.random_bool(0.05) {
            "mcp"
        } else if allows("portal") && (rng.random_bool(0.8) || !allows("api")) {
            "portal"
        } else {
            "api"
        };
        let occurred_at = moment(now, company.utc_offset, &mut rng);
        let targets: Vec<Value> = spec
            .targets
            .iter()
            .map(|kind| target(kind, company, &casts[company_index], &mut rng))
            .collect();
        let (actor, actor_name, ip_address) = if system {
            (
                json!({"type": "system", "name": "Session timeout"}),
                "The system".to_owned(),
                None,
            )
        } else {
            let people = if service {
                &acting_cast.services
            } else {
                &acting_cast.staff
            };
            let person = people
                .choose(&mut rng)
                .expect("every company has staff and integrations");
            let mut actor = json!({"type": if service { "service" } else { "user" }, "id": person.id, "name": person.name});
            if let Some(email) = &person.email {
                actor["email"] = json!(email);
            }
            // Now and then from somewhere else: travel, a VPN, a new laptop.
            let address = if rng.random_bool(0.1) {
                ip(&mut rng)
            } else {
                person.ip.clone()
            };
            (actor, person.name.clone(), Some(address))
        };
        let user_agent = if service {
            SERVICE_AGENTS.choose(&mut rng)
        } else if channel == "portal" {
            BROWSERS.choose(&mut rng)
        } else {
            API_CLIENTS.choose(&mut rng)
        };
        let mut context = json!({ "user_agent": user_agent });
        if let Some(address) = ip_address {
            context["ip"] = json!(address);
        }
        let mut description = describe(&actor_name, &action, &targets);
        if failed {
            description = format!("Failed: {description}");
        }
        let mut event = json!({
            "action": action,
            "occurred_at": occurred_at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            "actor": actor,
            "targets": targets,
            "context": context,
            "channel": channel,
            "outcome": if failed { "failure" } else { "success" },
            "description": description,
            "metadata": metadata(&action, failed, &mut rng),
        });
        if action == "SecretKeyRotated" && !failed {
            // The product sends the key values; the catalog has them redacted before storage.
            event["metadata"] = json!({"rotated_key": {"old": short_id(&mut rng, "sec-c"), "new": short_id(&mut rng, "sec-c")}});
        }
        // Trusted IPs changed while TOTP was on: the console records both MFA events for one action.
        if action == "security.mfa_trusted_ips_updated" && rng.random_bool(0.5) {
            let mut twin = event.clone();
            twin["action"] = json!("security.mfa_totp_updated");
            twin["description"] = json!(describe(&actor_name, "security.mfa_totp_updated", &[]));
            events.push((occurred_at, company.tenant.id, twin));
        }
        events.push((occurred_at, company.tenant.id, event));
    }
    events.sort_by_key(|(occurred_at, _, _)| *occurred_at);
    events.truncate(count);
    events
        .into_iter()
        .map(|(_, tenant, event)| (tenant, event))
        .collect()
}

/// An action of `catalog`, drawn by the product's weights (unlisted actions weigh 2).
fn weighted_action(catalog: &Catalog, weights: Vocabulary, rng: &mut StdRng) -> String {
    let weight_of = |action: &str| {
        weights
            .iter()
            .find(|(known, _, _)| *known == action)
            .map_or(2, |(_, weight, _)| *weight)
    };
    let total: u32 = catalog
        .event_types()
        .map(|event_type| weight_of(&event_type.spec.action))
        .sum();
    let mut ticket = rng.random_range(0..total.max(1));
    for event_type in catalog.event_types() {
        let weight = weight_of(&event_type.spec.action);
        if ticket < weight {
            return event_type.spec.action.clone();
        }
        ticket -= weight;
    }
    catalog
        .event_types()
        .next()
        .map(|event_type| event_type.spec.action.clone())
        .unwrap_or_default()
}

/// Each seed product's example catalog, as shipped in examples/catalogs/.
fn catalog_text(product: Product) -> &'static str {
    match product {
        Product::PartnerConsole => include_str!("../../../examples/catalogs/partner-console.toml"),
        Product::Licensing => include_str!("../../../examples/catalogs/licensing-platform.toml"),
        Product::Reseller => include_str!("../../../examples/catalogs/reseller-console.toml"),
        Product::Cloud => include_str!("../../../examples/catalogs/cloud-platform.toml"),
        Product::Messaging => include_str!("../../../examples/catalogs/messaging-portal.toml"),
    }
}

/// The catalog a demo tenant gets as its own: its product's, except for
/// sub-accounts, which inherit their partner's.
pub fn demo_catalog(tenant: &DemoTenant) -> Option<&'static str> {
    let company = COMPANIES
        .iter()
        .find(|company| company.tenant.id == tenant.id)?;
    company
        .tenant
        .parent
        .is_none()
        .then(|| catalog_text(company.product))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn now() -> Timestamp {
        "2026-11-23T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn deterministic_for_a_seed() {
        assert_eq!(demo_events(now(), 300, 7), demo_events(now(), 300, 7));
        assert_ne!(demo_events(now(), 300, 7), demo_events(now(), 300, 8));
    }

    #[test]
    fn count_window_and_order() {
        let events = demo_events(now(), 2_000, 1);
        assert_eq!(events.len(), 2_000);
        let times: Vec<Timestamp> = events
            .iter()
            .map(|(_, event)| event["occurred_at"].as_str().unwrap().parse().unwrap())
            .collect();
        assert!(times.windows(2).all(|pair| pair[0] <= pair[1]));
        assert!(
            times
                .iter()
                .all(|time| *time <= now() && *time > now() - SignedDuration::from_hours(90 * 24))
        );
    }

    #[test]
    fn a_partner_with_two_sub_accounts_and_events_for_every_tenant() {
        let tenants = demo_tenants();
        let children: Vec<&DemoTenant> = tenants
            .iter()
            .filter(|tenant| tenant.parent.is_some())
            .collect();
        assert_eq!(children.len(), 2);
        assert!(
            children
                .iter()
                .all(|child| child.parent == children[0].parent)
        );
        let events = demo_events(now(), 2_000, 1);
        let seen: HashSet<&str> = events.iter().map(|(tenant, _)| *tenant).collect();
        assert_eq!(seen.len(), tenants.len());
    }

    #[test]
    fn every_event_is_valid_and_varied() {
        let events = demo_events(now(), 3_000, 1);
        let limits = evident_core::EventLimits::default();
        let catalogs: std::collections::HashMap<&str, Catalog> = COMPANIES
            .iter()
            .map(|company| {
                (
                    company.tenant.id,
                    Catalog::from_toml(catalog_text(company.product)).unwrap(),
                )
            })
            .collect();
        let catalog_of = |tenant: &str| &catalogs[tenant];
        let mut seen = HashSet::new();
        for (tenant, event) in &events {
            let mut new = evident_core::event::validate_event(event, None, now(), &limits).unwrap();
            catalog_of(tenant)
                .apply(&mut new, None)
                .unwrap_or_else(|violations| panic!("{event}: {violations:?}"));
            seen.insert(new.action);
        }
        for company in COMPANIES {
            for event_type in catalog_of(company.tenant.id).event_types() {
                assert!(
                    seen.contains(&event_type.spec.action),
                    "{} never occurs",
                    event_type.spec.action
                );
            }
        }
        let ips: Vec<&str> = events
            .iter()
            .filter_map(|(_, event)| event["context"]["ip"].as_str())
            .collect();
        assert!(ips.iter().any(|ip| ip.contains(':')) && ips.iter().any(|ip| ip.contains('.')));
        let systems: Vec<&Value> = events
            .iter()
            .map(|(_, event)| event)
            .filter(|event| event["actor"]["type"] == "system")
            .collect();
        assert!(
            !systems.is_empty()
                && systems
                    .iter()
                    .all(|event| event["actor"].get("id").is_none())
        );
        assert!(
            events
                .iter()
                .any(|(_, event)| event["outcome"] == "failure")
        );
        assert!(events.iter().any(|(_, event)| event["channel"] == "mcp"));
    }

    #[test]
    fn descriptions_read_like_sentences() {
        let license = json!({"type": "license", "id": "lic_1", "name": "standard seat 3"});
        assert_eq!(
            describe(
                "Grace Hopper",
                "license.revoked",
                std::slice::from_ref(&license)
            ),
            "Grace Hopper revoked license standard seat 3"
        );
        assert_eq!(
            describe("Ada Lovelace", "USER_LOGIN", &[]),
            "Ada Lovelace signed in"
        );
        assert_eq!(
            describe("Ada Lovelace", "KeysetConfigChanged", &[]),
            "Ada Lovelace changed keyset config"
        );
        assert_eq!(
            describe("Ada Lovelace", "license_features_updated", &[license]),
            "Ada Lovelace updated license features standard seat 3"
        );
    }
}
