using System.Buffers.Binary;
using Microsoft.Extensions.Logging;

namespace Archestra.Storage;

/// <summary>
/// The local spill: audit records the database could not take (it was down, or the channel was full), in files of
/// CRC-checked frames (<see cref="SpillCodec"/>) under one directory, replayed oldest first. A file is deleted only
/// after every record in it was written to the database; replays are idempotent, so a crash mid-replay is harmless.
/// A torn or corrupt frame (kill -9 mid-write, bad disk) is skipped: the reader scans forward to the next frame whose
/// checksum holds and logs how many bytes it skipped.
/// </summary>
internal sealed class AuditSpill : IDisposable
{
    /// <summary>Files rotate at this size so a replay reads one file into memory at a time.</summary>
    internal const long MaxFileBytes = 64L * 1024 * 1024;

    /// <summary>Overflow frames are handed to the OS once this much accumulates (and on every writer tick).</summary>
    private const int OverflowWriteThreshold = 64 * 1024;

    private readonly string _directory;
    private readonly Lock _lock = new();
    private readonly SpillBuffer _buffer = new();
    private FileStream? _current;
    private long _sequence;
    private bool _unsynced;
    private bool _closed;

    public AuditSpill(string directory)
    {
        _directory = Path.GetFullPath(directory);
        Directory.CreateDirectory(_directory);
    }

    public string DirectoryPath => _directory;

    /// <summary>Records appended since start (batches and overflow).</summary>
    public long Spilled => Interlocked.Read(ref _spilled);

    private long _spilled;

    /// <summary>
    /// Appends a batch and hands it to the OS before returning: from then on it survives kill -9. With
    /// <paramref name="sync"/> it is also fsynced (it survives power loss); several batches spilled together pass
    /// false for all but the last, or call <see cref="Flush"/>, to pay for one fsync.
    /// </summary>
    public void AppendBatch(List<AuditRecord> batch, bool sync = true)
    {
        lock (_lock)
        {
            foreach (var record in batch)
            {
                SpillCodec.WriteFrame(_buffer, record);
            }

            WriteBufferLocked();
            if (sync)
            {
                SyncLocked();
            }

            Interlocked.Add(ref _spilled, batch.Count);
        }
    }

    /// <summary>
    /// The hot path's overflow when the channel is full: the frame is buffered and reaches the OS within one writer
    /// tick (<see cref="Flush"/>) or at 64 KB. After <see cref="Close"/> it is written and synced at once.
    /// </summary>
    public void AppendOverflow(AuditRecord record)
    {
        lock (_lock)
        {
            SpillCodec.WriteFrame(_buffer, record);
            Interlocked.Increment(ref _spilled);
            if (_closed)
            {
                WriteBufferLocked();
                SyncLocked();
                CloseCurrentLocked();
            }
            else if (_buffer.Length >= OverflowWriteThreshold)
            {
                WriteBufferLocked();
            }
        }
    }

    /// <summary>Hands buffered overflow to the OS and fsyncs the current file.</summary>
    public void Flush()
    {
        lock (_lock)
        {
            WriteBufferLocked();
            SyncLocked();
        }
    }

    /// <summary>True when any spill file (or buffered overflow) exists.</summary>
    public bool HasData
    {
        get
        {
            lock (_lock)
            {
                return _buffer.Length > 0 || _current is not null || Directory.EnumerateFiles(_directory, "*.spill").Any();
            }
        }
    }

    /// <summary>Closes the file being appended to and lists every spill file, oldest first, for replay.</summary>
    public string[] TakeFilesForReplay()
    {
        lock (_lock)
        {
            WriteBufferLocked();
            SyncLocked();
            CloseCurrentLocked();
        }

        var files = Directory.GetFiles(_directory, "*.spill");
        Array.Sort(files, StringComparer.Ordinal);
        return files;
    }

    /// <summary>Flushes and closes; later overflow appends write and sync a new file each time.</summary>
    public void Close()
    {
        lock (_lock)
        {
            WriteBufferLocked();
            SyncLocked();
            CloseCurrentLocked();
            _closed = true;
        }
    }

    public void Dispose() => Close();

    /// <summary>
    /// Reads every intact record of one spill file, in order. A torn tail or corrupt region is skipped (scanning
    /// byte by byte for the next frame whose length and CRC check out) and logged with its offset and size.
    /// </summary>
    public static List<AuditRecord> ReadFile(string path, ILogger logger, out long skippedBytes)
    {
        var data = File.ReadAllBytes(path);
        var records = new List<AuditRecord>();
        skippedBytes = 0;
        var header = SpillCodec.Header;
        var position = 0;
        if (data.Length >= header.Length && data.AsSpan(0, header.Length).SequenceEqual(header))
        {
            position = header.Length;
        }
        else
        {
            Log.SpillBadHeader(logger, path);
        }

        var badStart = -1;
        while (position < data.Length)
        {
            if (TryFrame(data, position, out var record, out var frameLength))
            {
                if (badStart >= 0)
                {
                    Log.SpillCorruptRegion(logger, path, badStart, position - badStart);
                    skippedBytes += position - badStart;
                    badStart = -1;
                }

                records.Add(record!);
                position += frameLength;
            }
            else
            {
                if (badStart < 0)
                {
                    badStart = position;
                }

                position++;
            }
        }

        if (badStart >= 0)
        {
            Log.SpillCorruptRegion(logger, path, badStart, data.Length - badStart);
            skippedBytes += data.Length - badStart;
        }

        return records;
    }

    private static bool TryFrame(byte[] data, int position, out AuditRecord? record, out int frameLength)
    {
        record = null;
        frameLength = 0;
        if (data.Length - position < SpillCodec.FrameOverhead)
        {
            return false;
        }

        var length = BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(position));
        if (length == 0 || length > SpillCodec.MaxPayload || length > data.Length - position - SpillCodec.FrameOverhead)
        {
            return false;
        }

        var payload = data.AsSpan(position + SpillCodec.FrameOverhead, (int)length);
        if (BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(position + 4)) != SpillCodec.Crc32C(payload))
        {
            return false;
        }

        frameLength = SpillCodec.FrameOverhead + (int)length;
        return SpillCodec.TryReadPayload(payload, out record);
    }

    private void WriteBufferLocked()
    {
        if (_buffer.Length == 0)
        {
            return;
        }

        if (_current is null || _current.Length >= MaxFileBytes)
        {
            OpenNextLocked();
        }

        _current!.Write(_buffer.Written);
        _buffer.Clear();
        _unsynced = true;
    }

    private void SyncLocked()
    {
        if (_unsynced && _current is not null)
        {
            _current.Flush(flushToDisk: true);
            _unsynced = false;
        }
    }

    private void OpenNextLocked()
    {
        if (_current is not null)
        {
            SyncLocked();
            CloseCurrentLocked();
        }

        // Names sort in write order, across restarts too: UTC time to 100 ns, then a per-process sequence.
        var name = $"audit-{DateTime.UtcNow:yyyyMMdd'T'HHmmssfffffff}-{Interlocked.Increment(ref _sequence):D8}.spill";
        _current = new FileStream(Path.Combine(_directory, name), FileMode.CreateNew, FileAccess.Write, FileShare.Read, bufferSize: 0);
        _current.Write(SpillCodec.Header);
    }

    private void CloseCurrentLocked()
    {
        _current?.Dispose();
        _current = null;
    }
}
