using System.Diagnostics;
using System.Globalization;

namespace Archestra.Storage;

// Recovery after the database failed (probe, then replay the spill) and the retention sweep, beside the writer loop.
public sealed partial class AuditWriter
{
    /// <summary>
    /// Beside the loop: while the database is down, probes it with backoff; then replays the spill, oldest first.
    /// Only a replayed batch (a real write) marks a stalled database healthy again, because a probe answers even
    /// while a lock blocks every write. Ends when the spill is empty, the database fails again (the loop starts a
    /// new recovery), or the writer stops.
    /// </summary>
    private async Task RecoverAsync()
    {
        var backoff = _options.MinProbeInterval;
        while (!_abandonDatabase)
        {
            var covered = _spill.Spilled;
            if (!_healthy)
            {
                try
                {
                    await Task.Delay(backoff, _stopRecovery.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                var doubled = backoff * 2;
                backoff = doubled > _options.MaxProbeInterval ? _options.MaxProbeInterval : doubled;
                if (!await ProbeAsync().ConfigureAwait(false))
                {
                    continue;
                }
            }

            if (!_spill.HasData)
            {
                if (!_healthy)
                {
                    _healthy = true;
                    Log.DatabaseBack(_logger);
                }

                _replayedThrough = covered;
                return;
            }

            if (!await ReplayAsync().ConfigureAwait(false))
            {
                continue;
            }

            backoff = _options.MinProbeInterval;
            if (_spill.HasData)
            {
                // Spilled meanwhile, or a file that could not be read: look again after a flush interval, not in a spin.
                try
                {
                    await Task.Delay(_options.FlushInterval, _stopRecovery.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private async Task<bool> ProbeAsync()
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_abort.Token);
            timeout.CancelAfter(ProbeTimeout);
            await _store.PingAsync(timeout.Token).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return false;
        }
    }

    /// <summary>
    /// Writes every spill file to the database, oldest first, deleting each once all its records are in. Each chunk
    /// has the same deadline as a live batch; false when one failed or missed it (the file stays for the next try).
    /// </summary>
    private async Task<bool> ReplayAsync()
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

        var deadline = Ticks(_options.WriteDeadline);
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
                if (_abandonDatabase)
                {
                    return false;
                }

                var chunk = records.GetRange(i, Math.Min(_options.BatchSize, records.Count - i));
                var sink = _recoverySink ??= _store.CreateAuditSink();
                var cancel = CancellationTokenSource.CreateLinkedTokenSource(_abort.Token);
                var token = cancel.Token;
                var started = Stopwatch.GetTimestamp();
                var write = new PendingWrite(
                    sink,
                    chunk,
                    Task.Run(() => sink.WriteAsync(chunk, replay: true, token), CancellationToken.None),
                    cancel,
                    started,
                    started + deadline
                );
                var finished = await Task.WhenAny(write.Task, Task.Delay(_options.WriteDeadline), _abandoned.Task).ConfigureAwait(false) == write.Task;
                if (!finished || _abandonDatabase)
                {
                    _recoverySink = null;
                    Abandon(write);
                    if (!_abandonDatabase)
                    {
                        MarkDown(
                            string.Create(
                                CultureInfo.InvariantCulture,
                                $"replay: no commit within the {_options.WriteDeadline.TotalMilliseconds} ms write deadline"
                            )
                        );
                    }

                    return false;
                }

                cancel.Dispose();
                if (!write.Task.IsCompletedSuccessfully)
                {
                    MarkDown(write.Task.Exception?.GetBaseException().Message ?? "the replay was cancelled");
                    return false;
                }

                Metrics.RecordWritten(chunk.Count, Stopwatch.GetElapsedTime(started).TotalSeconds);
                if (!_healthy)
                {
                    _healthy = true;
                    Log.DatabaseBack(_logger);
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
