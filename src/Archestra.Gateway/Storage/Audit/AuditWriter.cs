using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace Archestra.Gateway.Storage;

/// <summary>
/// Moves audit records from the hot path to the database without the hot path ever waiting on it.
/// <see cref="Enqueue"/> puts the record on a bounded channel and returns (no allocation beyond the record; when
/// the channel is full the record goes to the spill file instead of being dropped). One writer task drains the
/// channel in batches of <see cref="StorageOptions.BatchSize"/> or every <see cref="StorageOptions.FlushInterval"/>,
/// whichever comes first, and writes each batch idempotently. When a write fails the batch is appended to the spill
/// (fsynced) and the database is probed with backoff; once it answers, the spill is replayed oldest first.
/// <see cref="StopAsync"/> drains everything — to the database, or to the spill when it is down.
/// </summary>
public sealed class AuditWriter : IAsyncDisposable
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
    private Task? _loop;
    private Task? _retention;
    private int _started;
    private volatile bool _stopping;
    private volatile bool _abandonDatabase;
    private bool _healthy = true;
    private TimeSpan _backoff;
    private long _nextProbe;

    internal AuditWriter(ArchestraStore store, AuditMetrics metrics)
    {
        _store = store;
        _options = store.Options;
        Metrics = metrics;
        _logger = store.LoggerFactory.CreateLogger("Archestra.Audit");
        _channel = Channel.CreateBounded<AuditRecord>(new BoundedChannelOptions(_options.ChannelCapacity)
        {
            SingleReader = true,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait, // TryWrite fails when full instead of dropping: the record spills.
            AllowSynchronousContinuations = false, // never run the writer's continuation on the hot path's thread
        });
        _spill = new AuditSpill(_options.SpillDirectory, _logger);
        _backoff = _options.MinProbeInterval;
        metrics.BindQueue(() => _channel.Reader.Count);
    }

    public AuditMetrics Metrics { get; }

    /// <summary>Arguments longer than this many UTF-8 bytes are cut; build them with <see cref="AuditText.Truncate(ReadOnlySpan{byte}, int)"/>.</summary>
    public int MaxArgumentBytes => _options.MaxArgumentBytes;

    /// <summary>The spill directory (full path).</summary>
    public string SpillDirectory => _spill.DirectoryPath;

    /// <summary>Starts the writer (and retention, when <see cref="StorageOptions.RetentionDays"/> &gt; 0). Leftover spill files from an earlier run are replayed first.</summary>
    public void Start()
    {
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            throw new InvalidOperationException("The audit writer is already started.");
        }

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
    }

    private void AbandonDatabase()
    {
        _abandonDatabase = true;
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

    private async Task RunAsync()
    {
        var reader = _channel.Reader;

        // PostgreSQL: batches in flight on several connections, so batches are encoded and sent while the server
        // inserts earlier ones. Measured on the quiet 2-core machine (bench/README.md): 1 connection 138 k records/s,
        // 2 → 177–189 k, 3 → 195–202 k. SQLite has one writer at a time: one connection.
        var depth = _store.Dialect == StorageDialect.Postgres ? PostgresBatchesInFlight : 1;
        var sinks = new IAuditSink[depth];
        var batches = new List<AuditRecord>[depth];
        var writes = new Task<bool>?[depth];
        for (var i = 0; i < depth; i++)
        {
            sinks[i] = _store.CreateAuditSink();
            batches[i] = new List<AuditRecord>(_options.BatchSize);
        }

        try
        {
            if (_spill.HasData)
            {
                _healthy = await ReplayAsync(sinks[0]).ConfigureAwait(false);
            }

            var slot = 0;
            while (true)
            {
                if (!await WaitForRecordsAsync(reader).ConfigureAwait(false))
                {
                    if (reader.Completion.IsCompleted)
                    {
                        break;
                    }

                    await CompleteWritesAsync(writes, batches).ConfigureAwait(false);
                    await MaintainAsync(sinks[0]).ConfigureAwait(false);
                    continue;
                }

                // The slot's previous batch must be settled (written or spilled) before its list is reused.
                await CompleteWriteAsync(writes, batches, slot).ConfigureAwait(false);
                var batch = batches[slot];
                await FillAsync(reader, batch).ConfigureAwait(false);
                if (_healthy && !_abandonDatabase)
                {
                    writes[slot] = TryWriteAsync(sinks[slot], batch);
                }
                else
                {
                    SpillBatch(batch);
                    batch.Clear();
                }

                slot = (slot + 1) % depth;
                if (!_healthy || (_spill.HasData && _channel.Reader.Count < _options.BatchSize))
                {
                    // Probing and replay use the first connection: settle everything in flight first.
                    await CompleteWritesAsync(writes, batches).ConfigureAwait(false);
                    await MaintainAsync(sinks[0]).ConfigureAwait(false);
                }
                else
                {
                    FlushSpill();
                }
            }

            await CompleteWritesAsync(writes, batches).ConfigureAwait(false);

            // Drained. One last probe and replay so a database that came back during shutdown gets everything.
            if (!_abandonDatabase)
            {
                if (!_healthy)
                {
                    _healthy = await ProbeAsync().ConfigureAwait(false);
                }

                if (_healthy && _spill.HasData)
                {
                    await ReplayAsync(sinks[0]).ConfigureAwait(false);
                }
            }

            FlushSpill();
        }
        finally
        {
            foreach (var sink in sinks)
            {
                await sink.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>Waits for the write in a slot, spilling its batch when it failed, and frees the slot's list.</summary>
    private async Task CompleteWriteAsync(Task<bool>?[] writes, List<AuditRecord>[] batches, int slot)
    {
        if (writes[slot] is not { } write)
        {
            return;
        }

        writes[slot] = null;
        if (!await write.ConfigureAwait(false))
        {
            SpillBatch(batches[slot]);
        }

        batches[slot].Clear();
    }

    private async Task CompleteWritesAsync(Task<bool>?[] writes, List<AuditRecord>[] batches)
    {
        for (var slot = 0; slot < writes.Length; slot++)
        {
            await CompleteWriteAsync(writes, batches, slot).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Waits for records. While the database is down (or spill files wait for replay) the wait ends at the next probe
    /// time so recovery does not depend on new traffic. False when there is nothing to read.
    /// </summary>
    private async ValueTask<bool> WaitForRecordsAsync(ChannelReader<AuditRecord> reader)
    {
        if (reader.TryPeek(out _))
        {
            return true;
        }

        if (_healthy || _abandonDatabase)
        {
            return await reader.WaitToReadAsync().ConfigureAwait(false);
        }

        var wait = reader.WaitToReadAsync().AsTask();
        var delay = Stopwatch.GetElapsedTime(0, Math.Max(_nextProbe - Stopwatch.GetTimestamp(), 0));
        if (delay > TimeSpan.Zero)
        {
            await Task.WhenAny(wait, Task.Delay(delay)).ConfigureAwait(false);
        }

        return wait.IsCompletedSuccessfully && wait.Result && reader.TryPeek(out _);
    }

    /// <summary>Takes up to one batch, waiting at most one flush interval from the first record for it to fill.</summary>
    private async Task FillAsync(ChannelReader<AuditRecord> reader, List<AuditRecord> batch)
    {
        var size = _options.BatchSize;
        var start = Stopwatch.GetTimestamp();
        while (true)
        {
            while (batch.Count < size && reader.TryRead(out var record))
            {
                batch.Add(record);
            }

            if (batch.Count >= size || _stopping)
            {
                return;
            }

            var remaining = _options.FlushInterval - Stopwatch.GetElapsedTime(start);
            if (remaining <= TimeSpan.Zero)
            {
                return;
            }

            // Polling keeps the hot path signal-free: it never has to wake the writer for a partial batch.
            await Task.Delay(remaining < FillPoll ? remaining : FillPoll).ConfigureAwait(false);
        }
    }

    private async Task<bool> TryWriteAsync(IAuditSink sink, List<AuditRecord> batch, bool replay = false)
    {
        var start = Stopwatch.GetTimestamp();
        try
        {
            await sink.WriteAsync(batch, replay, _abort.Token).ConfigureAwait(false);
            Metrics.RecordWritten(batch.Count, Stopwatch.GetElapsedTime(start).TotalSeconds);
            _backoff = _options.MinProbeInterval;
            return true;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Metrics.RecordError();
            if (_healthy)
            {
                Log.DatabaseDown(_logger, _spill.DirectoryPath, e.Message);
            }

            _healthy = false;
            ScheduleProbe();
            return false;
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

    /// <summary>After each batch: push buffered overflow to disk, probe a down database when due, replay the spill once caught up.</summary>
    private async Task MaintainAsync(IAuditSink sink)
    {
        FlushSpill();
        if (_abandonDatabase)
        {
            return;
        }

        if (!_healthy)
        {
            if (Stopwatch.GetTimestamp() < _nextProbe)
            {
                return;
            }

            if (!await ProbeAsync().ConfigureAwait(false))
            {
                return;
            }

            _healthy = true;
            Log.DatabaseBack(_logger);
        }

        // Replay only when the queue has less than a batch waiting, so a backlog of live records goes first.
        if (_channel.Reader.Count < _options.BatchSize && _spill.HasData)
        {
            _healthy = await ReplayAsync(sink).ConfigureAwait(false);
        }
    }

    private async Task<bool> ProbeAsync()
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_abort.Token);
            timeout.CancelAfter(ProbeTimeout);
            await _store.PingAsync(timeout.Token).ConfigureAwait(false);
            _backoff = _options.MinProbeInterval;
            return true;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            ScheduleProbe();
            return false;
        }
    }

    private void ScheduleProbe()
    {
        _nextProbe = Stopwatch.GetTimestamp() + (long)(_backoff.TotalSeconds * Stopwatch.Frequency);
        var doubled = _backoff * 2;
        _backoff = doubled > _options.MaxProbeInterval ? _options.MaxProbeInterval : doubled;
    }

    /// <summary>Writes every spill file to the database, oldest first, deleting each once all its records are in.</summary>
    private async Task<bool> ReplayAsync(IAuditSink sink)
    {
        string[] files;
        try
        {
            files = _spill.TakeFilesForReplay();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.SpillFailed(_logger, 0, e.Message);
            return true;
        }

        var chunk = new List<AuditRecord>(_options.BatchSize);
        foreach (var file in files)
        {
            List<AuditRecord> records;
            try
            {
                records = AuditSpill.ReadFile(file, _logger, out _);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Log.SpillReplayFailed(_logger, file, e.Message);
                continue;
            }

            for (var i = 0; i < records.Count; i += _options.BatchSize)
            {
                chunk.Clear();
                for (var j = i; j < Math.Min(i + _options.BatchSize, records.Count); j++)
                {
                    chunk.Add(records[j]);
                }

                if (_abandonDatabase || !await TryWriteAsync(sink, chunk, replay: true).ConfigureAwait(false))
                {
                    return false;
                }
            }

            File.Delete(file);
            Log.SpillReplayed(_logger, records.Count, file);
        }

        return true;
    }

    private async Task RetentionAsync()
    {
        var token = _stopRetention.Token;
        while (!token.IsCancellationRequested)
        {
            try
            {
                var cutoff = DateTime.UtcNow.AddDays(-_options.RetentionDays);
                var deleted = await _store.DeleteAuditBeforeAsync(cutoff, token).ConfigureAwait(false);
                if (deleted > 0)
                {
                    Log.RetentionDeleted(_logger, deleted, cutoff);
                }

                await Task.Delay(_options.RetentionInterval, token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                Log.RetentionFailed(_logger, e.Message);
                try
                {
                    await Task.Delay(_options.RetentionInterval, token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }
}
