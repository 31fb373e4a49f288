use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

/// The profile used when none is named.
pub const DEFAULT_PROFILE: &str = "default";

const APP_DIR: &str = "benchling-webhook";

/// The directory holding every profile: `$XDG_CONFIG_HOME/benchling-webhook`, else
/// `~/.config/benchling-webhook` on every platform (the older tool used the XDG layout on macOS too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigBase(PathBuf);

#[derive(Debug, PartialEq, Eq)]
pub enum PathError {
    NoHome,
    InvalidProfileName(String),
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathError::NoHome => write!(
                f,
                "cannot find the configuration directory: neither XDG_CONFIG_HOME nor HOME is set; \
                 set XDG_CONFIG_HOME to an absolute path"
            ),
            PathError::InvalidProfileName(name) => write!(
                f,
                "invalid profile name {name:?}: expected letters, digits, `-` or `_` \
                 (it names a directory), e.g. `--profile dev`"
            ),
        }
    }
}

impl std::error::Error for PathError {}

impl ConfigBase {
    /// Resolves the base directory from the process environment.
    pub fn from_env() -> Result<Self, PathError> {
        Self::resolve(std::env::var_os("XDG_CONFIG_HOME"), dirs::home_dir())
    }

    /// The base under an explicit config home (what `XDG_CONFIG_HOME` would name).
    pub fn from_xdg_config_home(config_home: &Path) -> Self {
        ConfigBase(config_home.join(APP_DIR))
    }

    /// The XDG rule: a relative `XDG_CONFIG_HOME` is invalid and ignored.
    fn resolve(
        xdg_config_home: Option<OsString>,
        home: Option<PathBuf>,
    ) -> Result<Self, PathError> {
        let config_home = match xdg_config_home.map(PathBuf::from) {
            Some(dir) if dir.is_absolute() => dir,
            _ => home.ok_or(PathError::NoHome)?.join(".config"),
        };
        Ok(ConfigBase(config_home.join(APP_DIR)))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn profile_dir(&self, profile: &str) -> Result<PathBuf, PathError> {
        let valid = !profile.is_empty()
            && profile
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(PathError::InvalidProfileName(profile.to_owned()));
        }
        Ok(self.0.join(profile))
    }

    pub fn profile_config(&self, profile: &str) -> Result<PathBuf, PathError> {
        Ok(self.profile_dir(profile)?.join("config.json"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_xdg_config_home_wins_over_home() {
        let base = ConfigBase::resolve(Some("/xdg".into()), Some("/home/u".into())).unwrap();
        assert_eq!(base.path(), Path::new("/xdg/benchling-webhook"));
    }

    #[test]
    fn relative_or_missing_xdg_config_home_falls_back_to_dot_config() {
        for xdg in [None, Some(OsString::from("relative/dir"))] {
            let base = ConfigBase::resolve(xdg, Some("/home/u".into())).unwrap();
            assert_eq!(base.path(), Path::new("/home/u/.config/benchling-webhook"));
        }
    }

    #[test]
    fn no_home_and_no_xdg_is_an_error_that_names_the_fix() {
        let err = ConfigBase::resolve(None, None).unwrap_err();
        assert!(err.to_string().contains("set XDG_CONFIG_HOME"));
    }

    #[test]
    fn profile_config_lives_in_a_directory_named_after_the_profile() {
        let base = ConfigBase::resolve(Some("/xdg".into()), None).unwrap();
        assert_eq!(
            base.profile_config("dev").unwrap(),
            Path::new("/xdg/benchling-webhook/dev/config.json")
        );
    }

    #[test]
    fn profile_names_that_escape_the_base_directory_are_rejected() {
        let base = ConfigBase::resolve(Some("/xdg".into()), None).unwrap();
        for bad in ["", "..", "a/b", "../etc", "with space"] {
            assert_eq!(
                base.profile_dir(bad),
                Err(PathError::InvalidProfileName(bad.into())),
                "{bad:?}"
            );
        }
    }
}
