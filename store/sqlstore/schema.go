package sqlstore

// migration is one step of the schema. Steps are applied in order, each in
// its own transaction, and recorded in schema_version.
type migration struct {
	sqlite   []string
	postgres []string
	// note is logged before the step upgrades an existing database, for
	// a step that may take long on a large one.
	note string
}

// migrations is the whole schema history. Never edit a step that has been
// released; add a new one.
var migrations = []migration{
	{
		sqlite: []string{
			`CREATE TABLE entries (
				idx INTEGER PRIMARY KEY,
				leaf BLOB NOT NULL,
				time INTEGER NOT NULL,
				kind TEXT NOT NULL,
				type TEXT NOT NULL,
				package TEXT NOT NULL,
				version TEXT NOT NULL,
				ptype TEXT NOT NULL,
				pdigest TEXT NOT NULL,
				digest TEXT NOT NULL)`,
			`CREATE INDEX entries_pkg ON entries(package, version, idx)`,
			`CREATE INDEX entries_ptype ON entries(ptype, idx) WHERE ptype <> ''`,
			`CREATE TABLE entry_signers (key_id TEXT NOT NULL, idx INTEGER NOT NULL, PRIMARY KEY (key_id, idx)) WITHOUT ROWID`,
			`CREATE TABLE entry_subjects (digest TEXT NOT NULL, idx INTEGER NOT NULL, PRIMARY KEY (digest, idx)) WITHOUT ROWID`,
			`CREATE TABLE hashes (id INTEGER PRIMARY KEY, hash BLOB NOT NULL)`,
			`CREATE TABLE checkpoints (size INTEGER PRIMARY KEY, time INTEGER NOT NULL, root BLOB NOT NULL, note BLOB NOT NULL)`,
			`CREATE TABLE state (key TEXT NOT NULL, idx INTEGER NOT NULL, value BLOB NOT NULL, PRIMARY KEY (key, idx)) WITHOUT ROWID`,
			`CREATE TABLE offlog (digest TEXT PRIMARY KEY, kind TEXT NOT NULL, data BLOB NOT NULL) WITHOUT ROWID`,
			`CREATE TABLE statements (idx INTEGER PRIMARY KEY, data BLOB NOT NULL)`,
		},
		postgres: []string{
			`CREATE TABLE entries (
				idx BIGINT PRIMARY KEY,
				leaf BYTEA NOT NULL,
				time BIGINT NOT NULL,
				kind TEXT NOT NULL,
				type TEXT NOT NULL,
				package TEXT COLLATE "C" NOT NULL,
				version TEXT COLLATE "C" NOT NULL,
				ptype TEXT COLLATE "C" NOT NULL,
				pdigest TEXT NOT NULL,
				digest TEXT NOT NULL)`,
			`CREATE INDEX entries_pkg ON entries(package, version, idx)`,
			`CREATE INDEX entries_ptype ON entries(ptype, idx) WHERE ptype <> ''`,
			`CREATE TABLE entry_signers (key_id TEXT COLLATE "C" NOT NULL, idx BIGINT NOT NULL, PRIMARY KEY (key_id, idx))`,
			`CREATE TABLE entry_subjects (digest TEXT COLLATE "C" NOT NULL, idx BIGINT NOT NULL, PRIMARY KEY (digest, idx))`,
			`CREATE TABLE hashes (id BIGINT PRIMARY KEY, hash BYTEA NOT NULL)`,
			`CREATE TABLE checkpoints (size BIGINT PRIMARY KEY, time BIGINT NOT NULL, root BYTEA NOT NULL, note BYTEA NOT NULL)`,
			`CREATE TABLE state (key TEXT COLLATE "C" NOT NULL, idx BIGINT NOT NULL, value BYTEA NOT NULL, PRIMARY KEY (key, idx))`,
			`CREATE TABLE offlog (digest TEXT PRIMARY KEY, kind TEXT NOT NULL, data BYTEA NOT NULL)`,
			`CREATE TABLE statements (idx BIGINT PRIMARY KEY, data BYTEA NOT NULL)`,
		},
	},
	{
		// Signed admin requests already carried out, so a replay is refused.
		sqlite:   []string{`CREATE TABLE used_requests (digest TEXT PRIMARY KEY, time INTEGER NOT NULL) WITHOUT ROWID`},
		postgres: []string{`CREATE TABLE used_requests (digest TEXT PRIMARY KEY, time BIGINT NOT NULL)`},
	},
	{
		// Checkpoints that met the witness policy's quorum, with their
		// cosignatures: what /log/checkpoint serves when there is a policy.
		sqlite:   []string{`CREATE TABLE witnessed (size INTEGER PRIMARY KEY, time INTEGER NOT NULL, root BLOB NOT NULL, note BLOB NOT NULL)`},
		postgres: []string{`CREATE TABLE witnessed (size BIGINT PRIMARY KEY, time BIGINT NOT NULL, root BYTEA NOT NULL, note BYTEA NOT NULL)`},
	},
	{
		// What each erasure removed (indexes and digests, never data), for
		// mirrors to erase the same.
		sqlite:   []string{`CREATE TABLE erasures (seq INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL, what TEXT NOT NULL)`},
		postgres: []string{`CREATE TABLE erasures (seq BIGSERIAL PRIMARY KEY, time BIGINT NOT NULL, what TEXT NOT NULL)`},
	},
	{
		// The verifiable index (package vindex): its node versions, keyed
		// by the tree size they were written at (first, so that a
		// version's nodes are appended together) and their label, and its
		// root at each of those sizes.
		sqlite: []string{
			`CREATE TABLE index_nodes (key BLOB PRIMARY KEY, node BLOB NOT NULL) WITHOUT ROWID`,
			`CREATE TABLE index_roots (size INTEGER PRIMARY KEY, root BLOB NOT NULL)`,
		},
		postgres: []string{
			`CREATE TABLE index_nodes (key BYTEA PRIMARY KEY, node BYTEA NOT NULL)`,
			`CREATE TABLE index_roots (size BIGINT PRIMARY KEY, root BYTEA NOT NULL)`,
		},
	},
	{
		// Keyless attestations' bundles and signer identities, off the
		// log and erasable like statements; indexed by identity.
		sqlite: []string{
			`CREATE TABLE keyless (idx INTEGER PRIMARY KEY, bundle BLOB NOT NULL, identity BLOB NOT NULL, issuer TEXT NOT NULL, subject TEXT NOT NULL)`,
			`CREATE INDEX keyless_subject ON keyless(subject, issuer, idx)`,
		},
		postgres: []string{
			`CREATE TABLE keyless (idx BIGINT PRIMARY KEY, bundle BYTEA NOT NULL, identity BYTEA NOT NULL, issuer TEXT COLLATE "C" NOT NULL, subject TEXT COLLATE "C" NOT NULL)`,
			`CREATE INDEX keyless_subject ON keyless(subject, issuer, idx)`,
		},
	},
	{
		// Each inner index node holds its children's hashes after their
		// labels and versions, so that a walk reads only the nodes on its
		// way (vindex's MemoryNodes.Upgrade does the same in memory). A
		// child's key is its version then its label, both in the parent
		// (bytes 67-74 and 33-66 for the left child, 109-116 and 75-108
		// for the right); its hash is its first 32 bytes.
		// (SQLite's || makes text of blobs: each result is cast back.)
		sqlite: []string{`UPDATE index_nodes SET node = CAST(node ||
			(SELECT substr(c.node, 1, 32) FROM index_nodes c WHERE c.key = CAST(substr(index_nodes.node, 67, 8) || substr(index_nodes.node, 33, 34) AS BLOB)) ||
			(SELECT substr(c.node, 1, 32) FROM index_nodes c WHERE c.key = CAST(substr(index_nodes.node, 109, 8) || substr(index_nodes.node, 75, 34) AS BLOB)) AS BLOB)
			WHERE length(node) = 116`},
		postgres: []string{`UPDATE index_nodes p SET node = p.node ||
			(SELECT substring(c.node FROM 1 FOR 32) FROM index_nodes c WHERE c.key = substring(p.node FROM 67 FOR 8) || substring(p.node FROM 33 FOR 34)) ||
			(SELECT substring(c.node FROM 1 FOR 32) FROM index_nodes c WHERE c.key = substring(p.node FROM 109 FOR 8) || substring(p.node FROM 75 FOR 34))
			WHERE length(p.node) = 116`},
		note: "upgrading the verifiable index's stored nodes, once: this takes about 4 minutes per million log entries",
	},
}
