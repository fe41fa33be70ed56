use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let _ = casehard::engine::STARTED.set(std::time::Instant::now());
    // SAFETY: the first thing the program does; no tree exists yet.
    unsafe { casehard::lang::use_tree_allocator() };
    casehard::engine::set_malloc_arenas();
    let cli = casehard::cli::Cli::parse();
    match casehard::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
