//! The app's database client: the module that creates it and the name it is exported under,
//! so injected helpers import the app's own client instead of opening a second one.

use crate::workspace::Workspace;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Prisma,
    Drizzle,
    /// node-postgres `Pool`.
    Pool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    pub path: String,
    /// The exported binding (`db`, `prisma`, `pool`).
    pub name: String,
    pub kind: Kind,
    /// Byte offset of the `export const` that declares it.
    pub at: usize,
}

/// `export const NAME = <init>` declarations in `text`: (offset, name, rest of the line).
fn exported_consts(text: &str) -> impl Iterator<Item = (usize, &str, &str)> {
    text.match_indices("export const ")
        .filter_map(move |(at, m)| {
            let rest = &text[at + m.len()..];
            let name_len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$'))
                .unwrap_or(rest.len());
            let name = &rest[..name_len];
            let after = rest[name_len..].trim_start();
            // `export const db: Type = ...` or `export const db = ...`.
            let init = after.split_once('=')?.1;
            let line = init.lines().next().unwrap_or("");
            (!name.is_empty()).then_some((at, name, line))
        })
}

fn in_file(path: &str, text: &str, kind: Kind) -> Option<Client> {
    let found = match kind {
        Kind::Drizzle => {
            if !text.contains("drizzle-orm/") {
                return None;
            }
            exported_consts(text).find(|(_, _, init)| init.trim_start().starts_with("drizzle("))
        }
        Kind::Prisma => {
            if !text.contains("PrismaClient") {
                return None;
            }
            exported_consts(text).find(|(_, name, init)| {
                init.contains("PrismaClient")
                    || init.to_lowercase().contains("prisma")
                    || matches!(*name, "db" | "prisma")
            })
        }
        Kind::Pool => {
            if !text.contains("Pool(") {
                return None;
            }
            exported_consts(text).find(|(_, _, init)| init.contains("Pool("))
        }
    };
    found.map(|(at, name, _)| Client {
        path: path.to_string(),
        name: name.to_string(),
        kind,
        at,
    })
}

/// The first module (in path order) that exports a client of `kind`.
pub fn find(ws: &Workspace, kind: Kind) -> Option<Client> {
    ws.sources()
        .find_map(|(p, _)| in_file(p, ws.text(p)?.body, kind))
}

/// The app's client: the first of Prisma, Drizzle and node-postgres the stack uses that some
/// module exports.
pub fn of_app(ws: &Workspace, stack: &crate::stack::Stack) -> Option<Client> {
    use crate::stack::Database;
    [
        (Database::Prisma, Kind::Prisma),
        (Database::Drizzle, Kind::Drizzle),
        (Database::NodePostgres, Kind::Pool),
    ]
    .iter()
    .filter(|(d, _)| stack.databases.contains(d))
    .find_map(|(_, k)| find(ws, *k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_exported_client_of_each_kind() {
        let t3 = "import { PrismaClient } from \"@prisma/client\";\nconst createPrismaClient = () => new PrismaClient();\nexport const db = globalForPrisma.prisma ?? createPrismaClient();\n";
        let c = in_file("src/server/db.ts", t3, Kind::Prisma).unwrap();
        assert_eq!(
            (c.name.as_str(), c.at),
            ("db", t3.find("export const db").unwrap())
        );
        let d = "import { drizzle } from \"drizzle-orm/postgres-js\";\nexport const conn = postgres(url);\nexport const db = drizzle(conn, { schema });\n";
        assert_eq!(in_file("db.ts", d, Kind::Drizzle).unwrap().name, "db");
        assert_eq!(in_file("db.ts", d, Kind::Prisma), None);
        let p =
            "import pg from 'pg'\nexport const pool: pg.Pool = new pg.Pool({ connectionString })\n";
        assert_eq!(in_file("pool.ts", p, Kind::Pool).unwrap().name, "pool");
    }
}
