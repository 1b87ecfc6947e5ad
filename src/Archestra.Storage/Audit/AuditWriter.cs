using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace Archestra.Storage;

/// <summary>
/// Moves audit records from the hot path to the database without the hot path ever waiting on it.
/// <see cref="Enqueue"/> puts the record on a bounded channel and returns (no allocation beyond the record; when
/// the channel is full the record goes to the spill file instead of being dropped). One writer loop drains the
/// channel into batches of <see cref="StorageOptions.BatchSize"/>, closed when full or after
/// <see cref="StorageOptions.FlushInterval"/>, and writes each idempotently. A batch not committed within
/// <see cref="StorageOptions.WriteDeadline"/> (a failed, stalled or locked database, or no free connection) is appended
/// to the spill (fsynced), and so is every batch after it until a background recovery has probed the database and
/// replayed a spilled batch, oldest first. So a record is in the database or in the spill file (written to the OS)
/// at most FlushInterval + WriteDeadline after it was enqueued: that is all kill -9 can lose.
/// <see cref="StopAsync"/> drains everything — to the database, or to the spill when it is down.
/// </summary>
public sealed partial class AuditWriter : IAsyncDisposable
{
    /// <summary>How often a partly filled batch checks whether more records arrived before its flush deadline.</summary>
    private static readonly TimeSpan FillPoll = TimeSpan.FromMilliseconds(5);

    private const int PostgresBatchesInFlight = 3;

    /// <summary>A probe that takes longer than this counts as a failure.</summary>
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(5);

    private readonly ArchestraStore _store;
    private readonly StorageOptions _options;
    private readonly Channel<AuditRecord> _channel;
    private readonly AuditSpill _spill;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _abort = new();
    private readonly CancellationTokenSource _stopRetention = new();
    private readonly CancellationTokenSource _stopRecovery = new();
    private readonly TaskCompletionSource _abandoned = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<PendingWrite> _abandonedWrites = [];
    private Task? _loop;
    private Task? _retention;
    private Task? _recovery;
    private IAuditSink? _recoverySink;
    private Task<bool>? _recordsWait;
    private int _started;
    private volatile bool _stopping;
    private volatile bool _abandonDatabase;

    /// <summary>
    /// False from a failed or overdue write until a replayed batch (or, with an empty spill, a probe) succeeds; while false, batches go to
    /// the spill.
    /// </summary>
    private volatile bool _healthy = true;

    /// <summary>Records the loop took from the channel and has not yet committed or spilled (read by the queue-depth metric).</summary>
    private long _held;

    /// <summary>
    /// <see cref="AuditSpill.Spilled"/> as of the last recovery that found the spill empty; a different value means there is something to
    /// replay.
    /// </summary>
    private long _replayedThrough;

    internal AuditWriter(ArchestraStore store, AuditMetrics metrics)
    {
        _store = store;
        _options = store.Options;
        Metrics = metrics;
        _logger = store.LoggerFactory.CreateLogger("Archestra.Audit");
        _channel = Channel.CreateBounded<AuditRecord>(
            new BoundedChannelOptions(_options.ChannelCapacity)
            {
                SingleReader = true,
                SingleWriter = false,
                FullMode = BoundedChannelFullMode.Wait, // TryWrite fails when full instead of dropping: the record spills.
                AllowSynchronousContinuations = false, // never run the writer's continuation on the hot path's thread
            }
        );
        _spill = new AuditSpill(_options.SpillDirectory);
        metrics.BindQueue(() => _channel.Reader.Count + Volatile.Read(ref _held));
    }

    public AuditMetrics Metrics { get; }

    /// <summary>Arguments longer than this many UTF-8 bytes are cut; build them with <see cref="AuditText.Truncate(ReadOnlySpan{byte}, int)"/>.</summary>
    public int MaxArgumentBytes => _options.MaxArgumentBytes;

    /// <summary>The spill directory (full path).</summary>
    public string SpillDirectory => _spill.DirectoryPath;

    /// <summary>
    /// Starts the writer (and retention, when <see cref="StorageOptions.RetentionDays"/> &gt; 0). Leftover spill files from an earlier run
    /// are replayed first.
    /// </summary>
    public void Start()
    {
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            throw new InvalidOperationException("The audit writer is already started.");
        }

        // Leftovers from an earlier run: the loop's first turn starts their replay.
        _replayedThrough = _spill.HasData ? -1 : 0;
        _loop = Task.Run(RunAsync);
        if (_options.RetentionDays > 0)
        {
            _retention = Task.Run(RetentionAsync);
        }
    }

    /// <summary>
    /// Hands a record to the writer and returns at once. True when it was queued; false when the queue was full
    /// (or the writer stopped) and the record went to the spill file instead — it is not lost either way.
    /// </summary>
    public bool Enqueue(AuditRecord record)
    {
        if (_channel.Writer.TryWrite(record))
        {
            return true;
        }

        Overflow(record);
        return false;
    }

    /// <summary>
    /// Stops accepting into the queue, writes everything queued (to the database, or to the spill when the database
    /// is down) and returns when it is on disk. When <paramref name="cancellationToken"/> fires first, the rest goes
    /// straight to the spill without waiting on the database.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        _stopping = true;
        _channel.Writer.TryComplete();
        await _stopRetention.CancelAsync().ConfigureAwait(false);
        using (cancellationToken.Register(static state => ((AuditWriter)state!).AbandonDatabase(), this))
        {
            if (_loop is { } loop)
            {
                await loop.ConfigureAwait(false);
            }
            else
            {
                // Never started: drain what was queued straight to the spill.
                var rest = new List<AuditRecord>();
                while (_channel.Reader.TryRead(out var record))
                {
                    rest.Add(record);
                }

                if (rest.Count > 0)
                {
                    SpillBatch(rest);
                }
            }

            if (_retention is { } retention)
            {
                await retention.ConfigureAwait(false);
            }
        }

        _spill.Close();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _abort.Dispose();
        _stopRetention.Dispose();
        _stopRecovery.Dispose();
    }

    private void AbandonDatabase()
    {
        _abandonDatabase = true;
        _abandoned.TrySetResult();
        _abort.Cancel();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Overflow(AuditRecord record)
    {
        try
        {
            _spill.AppendOverflow(record);
            Metrics.RecordSpilled(1);
        }
        catch (IOException e)
        {
            Log.SpillFailed(_logger, 1, e.Message);
        }
        catch (UnauthorizedAccessException e)
        {
            Log.SpillFailed(_logger, 1, e.Message);
        }
    }

    /// <summary>
    /// The writer loop. Each turn takes everything the channel holds into batches, settles writes that finished or
    /// passed their deadline, hands ready batches to free connections (or to the spill while the database is down, or
    /// when one waited past its deadline for a connection), and sleeps until the next record, write, fill time or
    /// deadline. Nothing here waits on the database for longer than a batch's deadline, so every record is committed
    /// or in the spill file at most <see cref="StorageOptions.FlushInterval"/> + <see cref="StorageOptions.WriteDeadline"/>
    /// after the loop took it. Probing and replay run beside it (<see cref="RecoverAsync"/>).
    /// </summary>
    private async Task RunAsync()
    {
        var reader = _channel.Reader;

        // PostgreSQL: batches in flight on several connections, so batches are encoded and sent while the server
        // inserts earlier ones. Measured on the quiet 2-core machine (bench/README.md): 1 connection 138 k records/s,
        // 2 → 177–189 k, 3 → 195–202 k. SQLite has one writer at a time: one connection.
        var depth = _store.Dialect == StorageDialect.Postgres ? PostgresBatchesInFlight : 1;
        var idle = new Stack<IAuditSink>(depth);
        var writes = new List<PendingWrite>(depth);
        var ready = new Queue<ReadyBatch>();
        var toSpill = new List<(List<AuditRecord> Batch, bool Reuse)>();
        var reusable = new Stack<List<AuditRecord>>();
        List<AuditRecord>? filling = null;
        long fillStart = 0;
        var flushTicks = Ticks(_options.FlushInterval);
        var budgetTicks = flushTicks + Ticks(_options.WriteDeadline);
        var pollTicks = Ticks(FillPoll);

        try
        {
            while (true)
            {
                var now = Stopwatch.GetTimestamp();
                while (reader.TryRead(out var record))
                {
                    if (filling is null)
                    {
                        filling = reusable.Count > 0 ? reusable.Pop() : new List<AuditRecord>(_options.BatchSize);
                        fillStart = now;
                    }

                    filling.Add(record);
                    if (filling.Count >= _options.BatchSize)
                    {
                        ready.Enqueue(new ReadyBatch(filling, fillStart + budgetTicks));
                        filling = null;
                    }
                }

                if (filling is not null && (_stopping || now - fillStart >= flushTicks))
                {
                    ready.Enqueue(new ReadyBatch(filling, fillStart + budgetTicks));
                    filling = null;
                }

                for (var i = writes.Count - 1; i >= 0; i--)
                {
                    var write = writes[i];
                    if (write.Task.IsCompleted)
                    {
                        writes.RemoveAt(i);
                        write.Cancel.Dispose();
                        idle.Push(write.Sink); // a sink drops its connection after a failure and dials anew next time
                        if (write.Task.IsCompletedSuccessfully)
                        {
                            Metrics.RecordWritten(write.Batch.Count, Stopwatch.GetElapsedTime(write.Started).TotalSeconds);
                            write.Batch.Clear();
                            reusable.Push(write.Batch);
                        }
                        else
                        {
                            MarkDown(write.Task.Exception?.GetBaseException().Message ?? "the write was cancelled");
                            toSpill.Add((write.Batch, true));
                        }
                    }
                    else if (now >= write.Deadline || _abandonDatabase)
                    {
                        // The batch goes to the spill now; the write is cancelled and left to finish on its own (its
                        // list and connection are never reused). Should it commit anyway, the replay adds nothing twice.
                        writes.RemoveAt(i);
                        Abandon(write);
                        toSpill.Add((write.Batch, false));
                        if (!_abandonDatabase)
                        {
                            MarkDown(
                                string.Create(
                                    CultureInfo.InvariantCulture,
                                    $"no commit within the {_options.WriteDeadline.TotalMilliseconds} ms write deadline"
                                )
                            );
                        }
                    }
                }

                while (ready.TryPeek(out var next))
                {
                    if (!_healthy || _abandonDatabase || now >= next.Deadline)
                    {
                        toSpill.Add((ready.Dequeue().Batch, true));
                    }
                    else if (writes.Count < depth)
                    {
                        ready.Dequeue();
                        writes.Add(StartWrite(idle.Count > 0 ? idle.Pop() : _store.CreateAuditSink(), next.Batch, next.Deadline));
                    }
                    else
                    {
                        break;
                    }
                }

                if (toSpill.Count > 0)
                {
                    SpillBatches(toSpill);
                    foreach (var (batch, reuse) in toSpill)
                    {
                        if (reuse)
                        {
                            batch.Clear();
                            reusable.Push(batch);
                        }
                    }

                    toSpill.Clear();
                }

                FlushSpill();
                Volatile.Write(ref _held, Held(filling, ready, writes));
                if (!_abandonDatabase && _recovery is not { IsCompleted: false } && (!_healthy || (_spill.Spilled != _replayedThrough && ready.Count == 0)))
                {
                    _recovery = Task.Run(RecoverAsync);
                }

                if (filling is null && ready.Count == 0 && writes.Count == 0)
                {
                    if (reader.Completion.IsCompleted)
                    {
                        break;
                    }

                    // Idle: the next record wakes the loop (once per batch: while a batch fills, the loop polls).
                    if (!reader.TryPeek(out _))
                    {
                        await RecordsAvailable(reader).ConfigureAwait(false);
                    }

                    continue;
                }

                var wake = long.MaxValue;
                if (filling is not null)
                {
                    wake = Math.Min(now + pollTicks, fillStart + flushTicks);
                }

                foreach (var write in writes)
                {
                    wake = Math.Min(wake, write.Deadline);
                }

                if (ready.TryPeek(out var waiting))
                {
                    wake = Math.Min(wake, waiting.Deadline);
                }

                await WaitAsync(reader, filling is null, writes, wake).ConfigureAwait(false);
            }

            // Drained: stop the background recovery's waits, then one last probe and replay so a database that came
            // back during shutdown gets everything.
            await _stopRecovery.CancelAsync().ConfigureAwait(false);
            if (_recovery is { } recovery)
            {
                await recovery.ConfigureAwait(false);
            }

            if (!_abandonDatabase)
            {
                if (!_healthy && await ProbeAsync().ConfigureAwait(false))
                {
                    _healthy = true;
                }

                if (_healthy && _spill.HasData)
                {
                    await ReplayAsync().ConfigureAwait(false);
                }
            }

            FlushSpill();
        }
        finally
        {
            Volatile.Write(ref _held, 0);
            foreach (var write in writes)
            {
                Abandon(write);
            }

            while (idle.TryPop(out var sink))
            {
                await sink.DisposeAsync().ConfigureAwait(false);
            }

            if (_recoverySink is { } recoverySink)
            {
                _recoverySink = null;
                await recoverySink.DisposeAsync().ConfigureAwait(false);
            }

            await SettleAbandonedAsync().ConfigureAwait(false);
        }
    }

    private static long Ticks(TimeSpan span) => (long)(span.TotalSeconds * Stopwatch.Frequency);

    private static long Held(List<AuditRecord>? filling, Queue<ReadyBatch> ready, List<PendingWrite> writes)
    {
        long held = filling?.Count ?? 0;
        foreach (var batch in ready)
        {
            held += batch.Batch.Count;
        }

        foreach (var write in writes)
        {
            held += write.Batch.Count;
        }

        return held;
    }

    /// <summary>
    /// Sleeps until a record arrives (when <paramref name="forRecords"/>), a write finishes, the database is abandoned, or <paramref
    /// name="wake"/>.
    /// </summary>
    private async Task WaitAsync(ChannelReader<AuditRecord> reader, bool forRecords, List<PendingWrite> writes, long wake)
    {
        var delay = wake == long.MaxValue ? Timeout.InfiniteTimeSpan : Stopwatch.GetElapsedTime(0, Math.Max(wake - Stopwatch.GetTimestamp(), 0));
        if (delay == TimeSpan.Zero)
        {
            return;
        }

        var tasks = new List<Task>(writes.Count + 3);
        foreach (var write in writes)
        {
            tasks.Add(write.Task);
        }

        if (forRecords && !reader.Completion.IsCompleted)
        {
            if (reader.TryPeek(out _))
            {
                return;
            }

            tasks.Add(RecordsAvailable(reader));
        }

        tasks.Add(_abandoned.Task);
        using var timer = new CancellationTokenSource();
        if (delay != Timeout.InfiniteTimeSpan)
        {
            tasks.Add(Task.Delay(delay, timer.Token));
        }

        await Task.WhenAny(tasks).ConfigureAwait(false);
        await timer.CancelAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// One wait on the channel at a time, kept across turns: a wait the loop stopped watching (a write finished first)
    /// would stay registered, and the hot path's next TryWrite would have to wake every one of them.
    /// </summary>
    private Task<bool> RecordsAvailable(ChannelReader<AuditRecord> reader)
    {
        if (_recordsWait is not { IsCompleted: false } wait)
        {
            wait = _recordsWait = reader.WaitToReadAsync().AsTask();
        }

        return wait;
    }

    private PendingWrite StartWrite(IAuditSink sink, List<AuditRecord> batch, long deadline)
    {
        var cancel = CancellationTokenSource.CreateLinkedTokenSource(_abort.Token);
        var token = cancel.Token;
        // On the thread pool: the SQLite sink does its work synchronously, and the loop must keep its deadlines.
        var task = Task.Run(() => sink.WriteAsync(batch, replay: false, token), CancellationToken.None);
        return new PendingWrite(sink, batch, task, cancel, Stopwatch.GetTimestamp(), deadline);
    }

    /// <summary>Cancels a write that is past its deadline and leaves it to finish on its own; its connection is closed then.</summary>
    private void Abandon(PendingWrite write)
    {
        // CancelAsync: Npgsql sends its cancel request from the callback, which must not hold up the loop.
        var cancelling = write.Cancel.CancelAsync();
        lock (_abandonedWrites)
        {
            _abandonedWrites.Add(write);
        }

        _ = DisposeWhenDoneAsync(write, cancelling);
    }

    private async Task DisposeWhenDoneAsync(PendingWrite write, Task cancelling)
    {
        try
        {
            await write.Task.ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Its batch is in the spill already: the outcome changes nothing.
        }

        try
        {
            await cancelling.ConfigureAwait(false);
            await write.Sink.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A cancellation callback or a connection close that failed: nothing is left to do with this write.
        }

        write.Cancel.Dispose();
        lock (_abandonedWrites)
        {
            _abandonedWrites.Remove(write);
        }
    }

    /// <summary>At shutdown: gives abandoned writes (all cancelled) a bounded time to let go of their connections.</summary>
    private async Task SettleAbandonedAsync()
    {
        Task[] pending;
        lock (_abandonedWrites)
        {
            pending = _abandonedWrites.Select(w => w.Task).ToArray();
        }

        if (pending.Length == 0)
        {
            return;
        }

        try
        {
            await Task.WhenAll(pending).WaitAsync(ProbeTimeout).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException) { }
    }

    private void MarkDown(string detail)
    {
        Metrics.RecordError();
        if (_healthy)
        {
            _healthy = false;
            Log.DatabaseDown(_logger, _spill.DirectoryPath, detail);
        }
    }

    /// <summary>Spills several batches with one fsync. A batch whose write was abandoned may still be read by that write: reading is all this does.</summary>
    private void SpillBatches(List<(List<AuditRecord> Batch, bool Reuse)> batches)
    {
        var count = 0;
        try
        {
            foreach (var (batch, _) in batches)
            {
                _spill.AppendBatch(batch, sync: false);
                count += batch.Count;
                Metrics.RecordSpilled(batch.Count);
            }

            _spill.Flush();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.SpillFailed(_logger, batches.Sum(b => b.Batch.Count) - count, e.Message);
        }
    }

    private void SpillBatch(List<AuditRecord> batch)
    {
        try
        {
            _spill.AppendBatch(batch);
            Metrics.RecordSpilled(batch.Count);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.SpillFailed(_logger, batch.Count, e.Message);
        }
    }

    private void FlushSpill()
    {
        try
        {
            _spill.Flush();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.SpillFailed(_logger, 0, e.Message);
        }
    }

    /// <summary>A batch waiting for a connection; past <see cref="Deadline"/> (a <see cref="Stopwatch"/> timestamp) it goes to the spill.</summary>
    private readonly record struct ReadyBatch(List<AuditRecord> Batch, long Deadline);

    /// <summary>A batch being written on its own connection, with the deadline after which it is spilled and the write abandoned.</summary>
    private sealed record PendingWrite(IAuditSink Sink, List<AuditRecord> Batch, Task Task, CancellationTokenSource Cancel, long Started, long Deadline);
}
