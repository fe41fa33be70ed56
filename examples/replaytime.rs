use casehard::schema::sql::{apply_file, Model};
use std::time::Instant;
fn main() {
    let text = std::fs::read_to_string(std::env::args().nth(1).unwrap()).unwrap();
    for _ in 0..5 {
        let t = Instant::now();
        let mut m = Model::default();
        apply_file(&mut m, "db/x.sql", &text);
        let t1 = t.elapsed();
        let t = Instant::now();
        let cut = text[..400_000].rfind(";\n").unwrap() + 1;
        let r = pg_query::parse(&text[..cut], pg_query::ParserOptions::DEFAULT).unwrap();
        let t2 = t.elapsed();
        drop(r);
        let t = Instant::now();
        let n = pg_query::split_with_scanner(&text).unwrap().len();
        let t3 = t.elapsed();
        println!("apply_file {:?}  parse 400KB single {:?}  split {:?} ({n})", t1, t2, t3);
    }
}
