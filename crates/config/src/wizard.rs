//! The questions `cargo xtask install` asks, apart from how they are asked: each has a default from the
//! profile (so re-running keeps every value), is checked by the same rules as `config validate`, and
//! with `--yes` is never asked at all.

use serde_json::Value;

use crate::schema::{self, DEFAULT_METADATA_KEY, DEFAULT_PREFIX};
use crate::validate::{self, Severity};
use crate::{Profile, SecretString};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    /// Typed without echo; never shown as a default.
    Secret,
    Choice(&'static [&'static str]),
    YesNo,
}

#[derive(Debug)]
pub struct Question {
    /// The field's JSON path, which is also its `--set` name.
    pub path: &'static str,
    pub prompt: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    pub required: bool,
}

pub const QUESTIONS: &[Question] = &[
    Question {
        path: "benchling.tenant",
        prompt: "Benchling tenant",
        help: "the `acme` of acme.benchling.com; a URL works too",
        kind: Kind::Text,
        required: true,
    },
    Question {
        path: "benchling.clientId",
        prompt: "Benchling app client id",
        help: "Developer Console → your app → client credentials",
        kind: Kind::Text,
        required: true,
    },
    Question {
        path: "benchling.clientSecret",
        prompt: "Benchling app client secret",
        help: "stored in AWS Secrets Manager, not on disk",
        kind: Kind::Secret,
        required: true,
    },
    Question {
        path: "benchling.appDefinitionId",
        prompt: "Benchling app definition id",
        help: "Developer Console → your app; starts with appdef_",
        kind: Kind::Text,
        required: true,
    },
    Question {
        path: "benchling.testEntryId",
        prompt: "Notebook entry id for remote tests (optional)",
        help: "an entry the tests may export, e.g. etr_…",
        kind: Kind::Text,
        required: false,
    },
    Question {
        path: "quilt.catalog",
        prompt: "Quilt catalog host",
        help: "e.g. quilt.example.com",
        kind: Kind::Text,
        required: true,
    },
    Question {
        path: "quilt.region",
        prompt: "AWS region of the Quilt stack",
        help: "e.g. us-east-1",
        kind: Kind::Text,
        required: true,
    },
    Question {
        path: "quilt.database",
        prompt: "Quilt Athena database",
        help: "the stack output UserAthenaDatabaseName",
        kind: Kind::Text,
        required: true,
    },
    Question {
        path: "quilt.queueUrl",
        prompt: "Quilt packager queue URL",
        help: "the stack output PackagerQueueUrl",
        kind: Kind::Text,
        required: true,
    },
    Question {
        path: "packages.bucket",
        prompt: "S3 bucket for packages",
        help: "a bucket of the Quilt stack",
        kind: Kind::Text,
        required: true,
    },
    Question {
        path: "packages.prefix",
        prompt: "Package name prefix",
        help: "packages are named <prefix>/<entry display id>",
        kind: Kind::Text,
        required: true,
    },
    Question {
        path: "packages.metadataKey",
        prompt: "Package metadata key for the entry id",
        help: "the metadata field that holds the display id",
        kind: Kind::Text,
        required: true,
    },
    Question {
        path: "deployment.region",
        prompt: "AWS region to deploy the webhook to",
        help: "usually the Quilt stack's region",
        kind: Kind::Text,
        required: true,
    },
    Question {
        path: "deployment.account",
        prompt: "AWS account id (optional)",
        help: "12 digits; checked against your credentials",
        kind: Kind::Text,
        required: false,
    },
    Question {
        path: "logging.level",
        prompt: "Log level",
        help: "of the running service",
        kind: Kind::Choice(&["INFO", "DEBUG", "WARNING", "ERROR"]),
        required: true,
    },
    Question {
        path: "security.webhookAllowList",
        prompt: "IPs or CIDRs allowed to call the webhook (empty: everyone)",
        help: "comma-separated, e.g. Benchling's egress addresses",
        kind: Kind::Text,
        required: false,
    },
    Question {
        path: "security.enableVerification",
        prompt: "Verify Benchling's webhook signatures?",
        help: "turn off only for debugging",
        kind: Kind::YesNo,
        required: true,
    },
];

/// How a question reaches a person: a terminal prompt in `cargo xtask install`, a script in tests.
pub trait Asker {
    /// Asks `question`, offering `default`; `check` gives the reason an answer is refused, and the asker
    /// asks again. `None` keeps the default.
    fn ask(
        &mut self,
        question: &Question,
        default: Option<&str>,
        check: &dyn Fn(&str) -> Result<(), String>,
    ) -> anyhow::Result<Option<String>>;
}

/// The field's current value as text: a list comma-separated, a boolean `true`/`false`.
pub fn field_text(profile: &Profile, path: &str) -> Option<String> {
    let value = serde_json::to_value(profile).ok()?;
    let found = path
        .split('.')
        .try_fold(&value, |node, key| node.get(key))?;
    match found {
        Value::String(text) => Some(text.clone()),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Array(items) => Some(
            items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", "),
        ),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// What a question offers when the profile has no value.
fn builtin_default(profile: &Profile, path: &str) -> Option<String> {
    match path {
        "packages.prefix" => Some(DEFAULT_PREFIX.to_owned()),
        "packages.metadataKey" => Some(DEFAULT_METADATA_KEY.to_owned()),
        "deployment.region" => profile.quilt.region.clone(),
        "logging.level" => Some("INFO".to_owned()),
        "security.enableVerification" => Some("true".to_owned()),
        _ => None,
    }
}

/// Why `answer` cannot be the value of `path`, by the rules `config validate` applies.
pub fn check_answer(profile: &Profile, path: &str, answer: &str) -> Result<(), String> {
    let mut trial = profile.clone();
    schema::set_field(&mut trial, path, answer).map_err(|err| format!("{err:#}"))?;
    let problem = validate::validate(&trial)
        .into_iter()
        .find(|p| p.path == path && p.severity == Severity::Error);
    match problem {
        Some(problem) if !answer.trim().is_empty() => Err(format!("expected {}", problem.expected)),
        _ => Ok(()),
    }
}

/// Goes through every question. With an asker each is asked, its default being the current value;
/// without one (`--yes`) defaults are taken as they are. Returns the required fields still empty.
pub fn run(
    profile: &mut Profile,
    mut asker: Option<&mut dyn Asker>,
    secret_in_aws: bool,
) -> anyhow::Result<Vec<&'static str>> {
    let mut missing = Vec::new();
    for question in QUESTIONS {
        let required = question.required && !(question.kind == Kind::Secret && secret_in_aws);
        let current = field_text(profile, question.path);
        let default = current
            .clone()
            .or_else(|| builtin_default(profile, question.path));
        let answer = match asker.as_deref_mut() {
            Some(asker) => {
                let snapshot = profile.clone();
                let check = move |answer: &str| check_answer(&snapshot, question.path, answer);
                let offered = if question.kind == Kind::Secret {
                    None
                } else {
                    default.as_deref()
                };
                asker.ask(question, offered, &check)?.or(default)
            }
            None => default,
        };
        match answer.filter(|a| !a.trim().is_empty()) {
            Some(answer) if question.kind == Kind::Secret => {
                profile.benchling.client_secret = Some(SecretString::new(answer))
            }
            Some(answer) if Some(&answer) != current.as_ref() => {
                schema::set_field(profile, question.path, &answer)?
            }
            Some(_) => {}
            None if required => missing.push(question.path),
            None => {}
        }
    }
    Ok(missing)
}

/// Prompts on the terminal (inquire). Esc keeps the default; Ctrl-C cancels the whole run.
#[cfg(feature = "terminal")]
pub struct Terminal;

#[cfg(feature = "terminal")]
impl Asker for Terminal {
    fn ask(
        &mut self,
        question: &Question,
        default: Option<&str>,
        check: &dyn Fn(&str) -> Result<(), String>,
    ) -> anyhow::Result<Option<String>> {
        use inquire::{Confirm, Password, PasswordDisplayMode, Select, Text};
        loop {
            let answer = match question.kind {
                Kind::Text => {
                    let mut prompt = Text::new(question.prompt).with_help_message(question.help);
                    if let Some(default) = default {
                        prompt = prompt.with_default(default);
                    }
                    prompt.prompt_skippable()
                }
                Kind::Secret => Password::new(question.prompt)
                    .without_confirmation()
                    .with_display_mode(PasswordDisplayMode::Masked)
                    .with_help_message(question.help)
                    .prompt_skippable(),
                Kind::Choice(options) => {
                    let start = default
                        .and_then(|d| options.iter().position(|o| *o == d))
                        .unwrap_or(0);
                    Select::new(question.prompt, options.to_vec())
                        .with_starting_cursor(start)
                        .prompt_skippable()
                        .map(|o| o.map(str::to_owned))
                }
                Kind::YesNo => Confirm::new(question.prompt)
                    .with_default(default != Some("false"))
                    .with_help_message(question.help)
                    .prompt_skippable()
                    .map(|yes| yes.map(|yes| yes.to_string())),
            };
            let answer = match answer {
                Err(inquire::InquireError::OperationInterrupted) => {
                    anyhow::bail!("cancelled; nothing was written")
                }
                other => {
                    other.map_err(|err| anyhow::anyhow!("asking for `{}`: {err}", question.path))?
                }
            };
            match answer {
                Some(text) if !text.trim().is_empty() => match check(&text) {
                    Ok(()) => return Ok(Some(text)),
                    Err(reason) => {
                        eprintln!("  ✗ {reason}; try again (Esc keeps the current value)")
                    }
                },
                _ => return Ok(None),
            }
        }
    }
}

/// A yes/no question on the terminal.
#[cfg(feature = "terminal")]
pub fn confirm(question: &str, default: bool) -> anyhow::Result<bool> {
    match inquire::Confirm::new(question)
        .with_default(default)
        .prompt()
    {
        Err(inquire::InquireError::OperationInterrupted) => anyhow::bail!("cancelled"),
        other => Ok(other?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A person who answers from a script, recording what each prompt offered.
    struct Scripted {
        answers: Vec<(&'static str, &'static str)>,
        offered: Vec<(&'static str, Option<String>)>,
        refused: Vec<String>,
    }

    impl Asker for Scripted {
        fn ask(
            &mut self,
            q: &Question,
            default: Option<&str>,
            check: &dyn Fn(&str) -> Result<(), String>,
        ) -> anyhow::Result<Option<String>> {
            self.offered.push((q.path, default.map(str::to_owned)));
            for (path, answer) in self.answers.iter().filter(|(p, _)| *p == q.path) {
                match check(answer) {
                    Ok(()) => return Ok(Some((*answer).to_owned())),
                    Err(reason) => self.refused.push(format!("{path}={answer}: {reason}")),
                }
            }
            Ok(None)
        }
    }

    fn scripted(answers: Vec<(&'static str, &'static str)>) -> Scripted {
        Scripted {
            answers,
            offered: Vec::new(),
            refused: Vec::new(),
        }
    }

    fn complete_profile() -> Profile {
        serde_json::from_str(include_str!(
            "../tests/fixtures/upstream-config/config-v0.7.0-minimal.json"
        ))
        .unwrap()
    }

    #[test]
    fn rerunning_offers_every_existing_value_as_the_default() {
        let mut profile = complete_profile();
        let mut expected = profile.clone();
        expected.logging.level = Some("INFO".into());
        expected.security.enable_verification = Some(true);
        let mut person = scripted(vec![]);
        let missing = run(&mut profile, Some(&mut person), false).unwrap();
        assert!(missing.is_empty(), "{missing:?}");
        assert_eq!(
            profile, expected,
            "accepting every default keeps each value and fills in only the built-in defaults"
        );
        let offered = |path: &str| {
            person
                .offered
                .iter()
                .find(|(p, _)| *p == path)
                .unwrap()
                .1
                .clone()
        };
        assert_eq!(offered("benchling.tenant").as_deref(), Some("test-tenant"));
        assert_eq!(
            offered("quilt.catalog").as_deref(),
            Some("catalog.example.org")
        );
        assert_eq!(
            offered("benchling.clientSecret"),
            None,
            "a secret is never offered back"
        );
    }

    #[test]
    fn a_bad_answer_is_refused_with_the_reason_and_asked_again() {
        let mut profile = Profile::default();
        let mut person = scripted(vec![
            ("benchling.tenant", "acme corp"),
            ("benchling.tenant", "https://acme.benchling.com"),
        ]);
        run(&mut profile, Some(&mut person), false).unwrap();
        assert_eq!(
            person.refused,
            [
                "benchling.tenant=acme corp: expected a Benchling tenant: the `acme` of acme.benchling.com"
            ]
        );
        assert_eq!(profile.benchling.tenant.as_deref(), Some("acme"));
    }

    #[test]
    fn without_an_asker_defaults_are_used_and_the_missing_listed() {
        let mut profile = Profile::default();
        profile.quilt.region = Some("eu-west-1".into());
        let missing = run(&mut profile, None, false).unwrap();
        assert_eq!(profile.packages.prefix.as_deref(), Some("benchling"));
        assert_eq!(
            profile.deployment.region.as_deref(),
            Some("eu-west-1"),
            "defaults to the Quilt region"
        );
        assert_eq!(profile.security.enable_verification, Some(true));
        assert_eq!(
            missing,
            [
                "benchling.tenant",
                "benchling.clientId",
                "benchling.clientSecret",
                "benchling.appDefinitionId",
                "quilt.catalog",
                "quilt.database",
                "quilt.queueUrl",
                "packages.bucket"
            ]
        );
    }

    #[test]
    fn the_client_secret_is_optional_once_it_is_in_aws() {
        let mut profile = complete_profile();
        profile.benchling.client_secret = None;
        assert_eq!(run(&mut profile, None, true).unwrap(), Vec::<&str>::new());
        assert_eq!(
            run(&mut profile, None, false).unwrap(),
            ["benchling.clientSecret"]
        );
    }

    #[test]
    fn every_question_names_a_settable_field() {
        let paths = schema::field_paths();
        for q in QUESTIONS {
            assert!(paths.iter().any(|p| p == q.path), "{}", q.path);
        }
    }
}
