use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = casehard::cli::Cli::parse();
    match casehard::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
