namespace Archestra.Storage;

/// <summary>
/// Everything the storage layer needs: where the database is, where the audit spill goes, and the audit
/// writer's batching and retention limits. Immutable; <see cref="Validate"/> runs in
/// <see cref="ArchestraStore.OpenAsync"/>.
/// </summary>
public sealed record StorageOptions
{
    /// <summary>
    /// <c>postgres://user:pass@host:port/db?sslmode=...</c> (or <c>postgresql://</c>, or a plain Npgsql
    /// connection string). Null or empty selects the embedded SQLite file at <see cref="SqlitePath"/>.
    /// Environment: <c>ARCHESTRA_DATABASE_URL</c>; config file: <c>database</c>.
    /// </summary>
    public string? DatabaseUrl { get; init; }

    /// <summary>The embedded database when no <see cref="DatabaseUrl"/> is set; its folder is created.</summary>
    public string SqlitePath { get; init; } = "./data/archestra.db";

    /// <summary>Where audit batches go while the database is unreachable or the channel is full.</summary>
    public string SpillDirectory { get; init; } = "./data/audit-spill";

    /// <summary>
    /// Longest a record waits in memory for its batch to fill before the batch is handed to the database.
    /// Together with <see cref="WriteDeadline"/> it bounds what kill -9 can lose: a record is committed or in the
    /// spill file at most <c>FlushInterval + WriteDeadline</c> after it was enqueued.
    /// </summary>
    public TimeSpan FlushInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// Longest a batch may wait for the database (for a free connection and for its commit). A batch still unwritten
    /// at its deadline goes to the spill file, the writer sends every later batch to the spill as well, and it probes
    /// the database in the background until a real write succeeds again. A write still running at its deadline is
    /// cancelled; should it commit anyway, the replay adds nothing twice (rows are keyed by (time, id), replays use
    /// <c>ON CONFLICT DO NOTHING</c>). 200 ms = two default flush intervals: a healthy 1,000-row batch commits in
    /// 5–20 ms (PostgreSQL, three in flight at 144–200 k records/s, bench/README.md), so a batch past 200 ms is stalled
    /// (a lock, a stopped or overloaded server) or stuck behind a burst, and the spill is the faster way to disk.
    /// </summary>
    public TimeSpan WriteDeadline { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// Records per write. 1,000 rows of binary COPY is ~150 KB on the wire: large enough that per-batch
    /// round trips cost under 5% at 200k records/s, small enough to stay well under one flush interval.
    /// </summary>
    public int BatchSize { get; init; } = 1_000;

    /// <summary>
    /// Records buffered in memory before <see cref="AuditWriter.Enqueue(AuditRecord)"/> sends overflow to the
    /// spill file: ~0.5 s at 200k records/s, ~50 MB of records at most.
    /// </summary>
    public int ChannelCapacity { get; init; } = 100_000;

    /// <summary>Audit rows older than this many days are deleted in the background; 0 keeps them forever.</summary>
    public int RetentionDays { get; init; } = 30;

    /// <summary>Rows per retention DELETE, so one statement never holds locks or WAL for long.</summary>
    public int RetentionBatchSize { get; init; } = 10_000;

    /// <summary>How often retention runs.</summary>
    public TimeSpan RetentionInterval { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Tool call arguments are stored truncated to this many UTF-8 bytes (0 stores none).</summary>
    public int MaxArgumentBytes { get; init; } = 4_096;

    /// <summary>First wait before probing a database that failed; doubles up to <see cref="MaxProbeInterval"/>.</summary>
    public TimeSpan MinProbeInterval { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Longest wait between probes of an unreachable database.</summary>
    public TimeSpan MaxProbeInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// <c>ARCHESTRA_SECRET_KEY</c>: 32 bytes, base64 or hex, the AES-256-GCM key for provider API keys.
    /// Without it the store refuses to save provider keys.
    /// </summary>
    public string? SecretKey { get; init; }

    /// <summary>Keys rotated out that can still decrypt older rows (same format as <see cref="SecretKey"/>).</summary>
    public IReadOnlyList<string> PreviousSecretKeys { get; init; } = [];

    /// <summary>True when <see cref="DatabaseUrl"/> selects PostgreSQL.</summary>
    public bool UsesPostgres => !string.IsNullOrWhiteSpace(DatabaseUrl);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad field.</summary>
    public void Validate()
    {
        if (FlushInterval <= TimeSpan.Zero)
        {
            throw new ArgumentException("storage: flushInterval must be positive.", nameof(FlushInterval));
        }

        if (WriteDeadline <= TimeSpan.Zero)
        {
            throw new ArgumentException("storage: writeDeadline must be positive.", nameof(WriteDeadline));
        }

        if (BatchSize is < 1 or > 100_000)
        {
            throw new ArgumentException("storage: batchSize must be between 1 and 100000.", nameof(BatchSize));
        }

        if (ChannelCapacity < BatchSize)
        {
            throw new ArgumentException("storage: channelCapacity must be at least batchSize.", nameof(ChannelCapacity));
        }

        if (RetentionDays < 0 || RetentionBatchSize < 1 || MaxArgumentBytes < 0)
        {
            throw new ArgumentException("storage: retentionDays, retentionBatchSize and maxArgumentBytes must not be negative.");
        }

        if (string.IsNullOrWhiteSpace(SpillDirectory) || (!UsesPostgres && string.IsNullOrWhiteSpace(SqlitePath)))
        {
            throw new ArgumentException("storage: spillDirectory and sqlitePath must be set.");
        }
    }
}
