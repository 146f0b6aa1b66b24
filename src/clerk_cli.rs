//! `docgate clerk add|passwd|remove|list`: provincial or office IT manages who may log in
//! to the clerk pages. Edits the accounts file the configuration names (default
//! `clerks.toml` beside it) atomically; the running daemon picks the change up at the next
//! request, so a removed clerk or a changed password ends that clerk's sessions at once.

use std::io::Read;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use docgate::system::clerk_accounts::{self, ClerkAccounts};
use docgate::system::config::GatewayConfig;

#[derive(Subcommand)]
pub enum ClerkCommand {
    /// Create a clerk account. Without --password-file, a random password is made and
    /// printed once (give it to the clerk).
    Add(ClerkArgs),
    /// Set a new password (the clerk's open sessions end).
    Passwd(ClerkArgs),
    /// Remove a clerk account (its open sessions end).
    Remove(ClerkNameArgs),
    /// List the clerk accounts (usernames and names; never the hashes).
    List {
        /// The gateway configuration.
        #[arg(long, default_value = "/etc/docgate/docgate.toml")]
        config: PathBuf,
    },
}

#[derive(Args)]
pub struct ClerkArgs {
    /// The gateway configuration.
    #[arg(long, default_value = "/etc/docgate/docgate.toml")]
    config: PathBuf,
    /// Login name: 1 to 32 of a-z, 0-9, '.', '_', '-'.
    username: String,
    /// The clerk's name as shown on the pages and in status packets.
    #[arg(long, default_value = "")]
    name: String,
    /// Read the password from this file (first line), or from standard input with `-`.
    #[arg(long)]
    password_file: Option<PathBuf>,
}

#[derive(Args)]
pub struct ClerkNameArgs {
    /// The gateway configuration.
    #[arg(long, default_value = "/etc/docgate/docgate.toml")]
    config: PathBuf,
    username: String,
}

/// Runs one `docgate clerk` command.
pub fn run(command: ClerkCommand) -> anyhow::Result<()> {
    match command {
        ClerkCommand::Add(args) => {
            let path = accounts_file(&args.config)?;
            let mut accounts = ClerkAccounts::load(&path)?;
            let (password, generated) = password(args.password_file.as_deref())?;
            accounts.add(&args.username, &args.name, &password)?;
            accounts.save(&path)?;
            println!("clerk {} added to {}", args.username, path.display());
            if generated {
                println!("password: {password}");
            }
        }
        ClerkCommand::Passwd(args) => {
            let path = accounts_file(&args.config)?;
            let mut accounts = ClerkAccounts::load(&path)?;
            let (password, generated) = password(args.password_file.as_deref())?;
            accounts.set_password(&args.username, &password)?;
            accounts.save(&path)?;
            println!("password of clerk {} changed", args.username);
            if generated {
                println!("password: {password}");
            }
        }
        ClerkCommand::Remove(args) => {
            let path = accounts_file(&args.config)?;
            let mut accounts = ClerkAccounts::load(&path)?;
            accounts.remove(&args.username)?;
            accounts.save(&path)?;
            println!("clerk {} removed", args.username);
        }
        ClerkCommand::List { config } => {
            let path = accounts_file(&config)?;
            for account in ClerkAccounts::load(&path)?.accounts() {
                println!("{}\t{}", account.username, account.name);
            }
        }
    }
    Ok(())
}

fn accounts_file(config: &Path) -> anyhow::Result<PathBuf> {
    let config = GatewayConfig::load(config)?;
    Ok(config
        .api
        .clerks_file
        .unwrap_or_else(|| clerk_accounts::default_path(Path::new("."))))
}

/// The password from a file or standard input, or a fresh random one (`true`).
fn password(file: Option<&Path>) -> anyhow::Result<(String, bool)> {
    let text = match file {
        None => return Ok((random_password()?, true)),
        Some(path) if path == Path::new("-") => {
            let mut text = String::new();
            std::io::stdin().take(4096).read_to_string(&mut text)?;
            text
        }
        Some(path) => std::fs::read_to_string(path)
            .map_err(|error| anyhow::anyhow!("cannot read {}: {error}", path.display()))?,
    };
    Ok((text.lines().next().unwrap_or_default().to_string(), false))
}

/// 16 characters from an alphabet without look-alikes (no 0/O, 1/l/I): about 90 bits.
fn random_password() -> anyhow::Result<String> {
    use ring::rand::SecureRandom;
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("the system random source failed"))?;
    // 256 is not a multiple of 55: the first 220 byte values map evenly, the rest are
    // redrawn so every character is equally likely.
    let mut password = String::new();
    let mut pool = bytes.to_vec();
    while password.len() < 16 {
        let Some(byte) = pool.pop() else {
            let mut more = [0u8; 16];
            ring::rand::SystemRandom::new()
                .fill(&mut more)
                .map_err(|_| anyhow::anyhow!("the system random source failed"))?;
            pool.extend_from_slice(&more);
            continue;
        };
        let limit = 256 - 256 % ALPHABET.len();
        if usize::from(byte) < limit {
            password.push(char::from(ALPHABET[usize::from(byte) % ALPHABET.len()]));
        }
    }
    Ok(password)
}
