//! The access rules the charts deploy, read from their values files, so the
//! least-privilege tests run exactly what production runs and cannot drift from it.

use serde_json::{Map, Value};
use tasklane_testkit::workspace_root;
use yaml_rust2::{Yaml, YamlLoader};

/// Every password of the tests' NATS and Valkey users: derived from the user name.
pub fn password(user: &str) -> String {
    format!("test-password-of-{user}")
}

/// `config.merge.accounts` of `infra/helm/nats/values.yaml`, as the JSON a
/// nats-server config takes, with each user's password reference replaced by
/// [`password`] of that user.
pub fn nats_accounts() -> Value {
    let values = values_file("infra/helm/nats/values.yaml");
    let mut accounts = json(&values["config"]["merge"]["accounts"]);
    assert!(accounts.is_object(), "config.merge.accounts is a map");
    for account in accounts.as_object_mut().expect("map").values_mut() {
        let Some(users) = account.get_mut("users").and_then(Value::as_array_mut) else {
            continue;
        };
        for user in users {
            let name = user["user"].as_str().expect("user name").to_string();
            user["password"] = Value::String(password(&name));
        }
    }
    accounts
}

/// `auth.aclUsers` of `infra/helm/valkey/values.yaml` as ACL file entries (name,
/// password, rules), in the chart's order.
pub fn valkey_users() -> Vec<(String, String, String)> {
    let values = values_file("infra/helm/valkey/values.yaml");
    let Yaml::Hash(users) = &values["auth"]["aclUsers"] else {
        panic!("auth.aclUsers is a map");
    };
    users
        .iter()
        .map(|(name, user)| {
            let name = name.as_str().expect("user name").to_string();
            let rules = user["permissions"]
                .as_str()
                .expect("permissions")
                .to_string();
            (name.clone(), password(&name), rules)
        })
        .collect()
}

fn values_file(path: &str) -> Yaml {
    let text = std::fs::read_to_string(workspace_root().join(path)).expect("values file");
    YamlLoader::load_from_str(&text)
        .expect("values file is YAML")
        .into_iter()
        .next()
        .expect("one document")
}

fn json(yaml: &Yaml) -> Value {
    match yaml {
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Integer(i) => Value::from(*i),
        Yaml::Real(r) => Value::from(r.parse::<f64>().expect("a number")),
        Yaml::Boolean(b) => Value::Bool(*b),
        Yaml::Array(items) => Value::Array(items.iter().map(json).collect()),
        Yaml::Hash(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.as_str().expect("string keys").to_string(), json(v)))
                .collect::<Map<_, _>>(),
        ),
        _ => Value::Null,
    }
}
