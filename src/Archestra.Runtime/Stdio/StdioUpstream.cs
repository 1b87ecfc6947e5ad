using System.Buffers;
using System.ComponentModel;
using System.Diagnostics;
using System.Text;
using Archestra.Runtime.Diagnostics;
using Archestra.Runtime.JsonRpc;
using Archestra.Runtime.Upstreams;
using Microsoft.Extensions.Logging;

namespace Archestra.Runtime.Stdio;

/// <summary>
/// A local MCP server run as a child process speaking newline-delimited JSON-RPC on stdin/stdout
/// (MCP "stdio" transport). One process is shared by every session; when it exits, calls in flight fail
/// and it is restarted with exponential backoff.
/// </summary>
/// <remarks>
/// Restarts are signalled through <see cref="Restarted"/> and counted in <see cref="Restarts"/>: every start
/// attempt after the first one counts, whether or not the new process comes up. The listener also sees
/// Down → Starting → Ready for each restart.
/// </remarks>
public sealed class StdioUpstream : McpUpstream
{
    // A process that stayed up this long was healthy: the next restart starts the backoff over.
    private static readonly TimeSpan HealthyAfter = TimeSpan.FromSeconds(60);

    // How long to wait for stdout/stderr to drain after an exit; a grandchild that inherited the pipes
    // can hold them open forever.
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(2);

    // The first read is usually a whole message; lines grow the buffer up to the limit below.
    private const int ReadBufferSize = 64 * 1024;

    // One JSON-RPC message on stdout may not exceed this; larger lines are discarded (and logged).
    private const int MaxLineBytes = 64 * 1024 * 1024;

    private readonly StdioUpstreamOptions _options;
    private readonly StderrTail _stderr;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private volatile Process? _process;
    private volatile Stream? _stdin;
    private long _restarts;

    public StdioUpstream(StdioUpstreamOptions options, IUpstreamListener listener, ILogger logger)
        : base(options, listener, logger)
    {
        _options = options;
        _stderr = new StderrTail(options.StderrLines);
    }

    /// <summary>Raised on the supervisor each time the server is started again after an exit or a failed start.</summary>
    public event Action<McpUpstream>? Restarted;

    /// <summary>How many times the server was started again after the first start.</summary>
    public long Restarts => Interlocked.Read(ref _restarts);

    /// <summary>The most recent stderr lines of the current (or last) process, oldest first.</summary>
    public IReadOnlyList<string> RecentStderr => _stderr.Snapshot();

    /// <summary>The kept stderr lines and the number of lines ever written (it grows by one per line; for following the log).</summary>
    public (string[] Lines, long Total) StderrSnapshot() => _stderr.SnapshotWithTotal();

    /// <summary>The id of the running process, if any.</summary>
    public int? ProcessId
    {
        get
        {
            try
            {
                return _process?.Id;
            }
            catch (InvalidOperationException)
            {
                return null;
            }
        }
    }

    protected override async Task SuperviseAsync()
    {
        var failures = 0;
        for (var attempt = 0; !_stopping.IsCancellationRequested; attempt++)
        {
            if (attempt > 0)
            {
                Interlocked.Increment(ref _restarts);
                RaiseRestarted();
            }

            var upFor = await RunOnceAsync(restart: attempt > 0).ConfigureAwait(false);
            FirstAttemptDone();
            if (_stopping.IsCancellationRequested)
            {
                break;
            }

            failures = upFor >= HealthyAfter ? 1 : failures + 1;
            var delay = RestartDelay(failures);
            StdioLog.RestartScheduled(Logger, Name, delay.TotalMilliseconds, Restarts + 1);
            try
            {
                await Task.Delay(delay, _stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    private TimeSpan RestartDelay(int failures)
    {
        var initial = _options.InitialRestartDelay;
        var max = _options.MaxRestartDelay;
        var ticks = initial.Ticks;
        for (var i = 1; i < failures && ticks < max.Ticks; i++)
        {
            ticks *= 2;
        }

        return TimeSpan.FromTicks(Math.Min(ticks, max.Ticks));
    }

    private void RaiseRestarted()
    {
        try
        {
            Restarted?.Invoke(this);
        }
#pragma warning disable CA1031 // A faulty subscriber must not stop the restart loop.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            StdioLog.RestartedHandlerFailed(Logger, Name, ex);
        }
    }

    /// <summary>Runs one process from spawn to exit; returns how long it was ready.</summary>
    private async Task<TimeSpan> RunOnceAsync(bool restart)
    {
        if (restart)
        {
            SetState(UpstreamState.Starting, $"MCP server '{Name}' is restarting");
        }

        _stderr.Clear();
        Process process;
        TaskCompletionSource exited;
        try
        {
            (process, exited) = Spawn();
        }
        catch (Exception ex) when (ex is Win32Exception or InvalidOperationException or IOException or PlatformNotSupportedException)
        {
            var detail = $"MCP server '{Name}' could not be started: '{_options.Command}': {ex.Message}";
            StdioLog.StartFailed(Logger, Name, detail);
            SetState(UpstreamState.Down, detail);
            return TimeSpan.Zero;
        }

        StdioLog.Started(Logger, Name, process.Id);
        var stdin = process.StandardInput.BaseStream;
        var reader = Task.Run(() => ReadStdoutAsync(process.StandardOutput.BaseStream), CancellationToken.None);
        _stdin = stdin;
        _process = process;
        var watch = WatchExitAsync(process, exited.Task, reader);

        UpstreamCallResult handshake;
        try
        {
            handshake = await HandshakeAsync(_stopping.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            handshake = UpstreamCallResult.Failure(UpstreamError.Unavailable, $"MCP server '{Name}' was stopped");
        }

        long readyAt = 0;
        if (handshake.IsSuccess)
        {
            readyAt = Stopwatch.GetTimestamp();
            SetState(UpstreamState.Ready, null);
            StdioLog.Ready(Logger, Name, ProtocolVersion);
            FirstAttemptDone();
        }
        else if (handshake.Error != UpstreamError.Disconnected)
        {
            StdioLog.HandshakeFailed(Logger, Name, handshake.Detail);
            KillTree(process);
        }

        var exitCode = await watch.ConfigureAwait(false);
        var upFor = handshake.IsSuccess ? Stopwatch.GetElapsedTime(readyAt) : TimeSpan.Zero;
        var stderr = _stderr.Tail(maxLines: 5, maxChars: 1000);
        var downDetail = handshake.IsSuccess || handshake.Error == UpstreamError.Disconnected
            ? $"MCP server '{Name}' exited with code {exitCode}; last stderr: {stderr}"
            : $"{handshake.Detail}; last stderr: {stderr}";
        if (!_stopping.IsCancellationRequested)
        {
            StdioLog.Down(Logger, Name, downDetail);
            SetState(UpstreamState.Down, downDetail);
        }

        _process = null;
        process.Dispose();
        return upFor;
    }

    private (Process Process, TaskCompletionSource Exited) Spawn()
    {
        var info = new ProcessStartInfo(_options.Command)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            CreateNoWindow = true,
        };
        foreach (var arg in _options.Args)
        {
            info.ArgumentList.Add(arg);
        }

        if (_options.WorkingDirectory is { Length: > 0 } directory)
        {
            info.WorkingDirectory = directory;
        }

        // The child must not inherit the gateway's secrets: it sees only PATH, HOME and its configured env.
        info.Environment.Clear();
        CopyFromGateway(info, "PATH");
        CopyFromGateway(info, "HOME");
        foreach (var pair in _options.Env)
        {
            info.Environment[pair.Key] = pair.Value;
        }

        var exited = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        process.Exited += (_, _) => exited.TrySetResult();
        process.ErrorDataReceived += OnStderr;
        try
        {
            process.Start();
        }
        catch
        {
            process.Dispose();
            throw;
        }

        process.BeginErrorReadLine();
        return (process, exited);
    }

    private static void CopyFromGateway(ProcessStartInfo info, string name)
    {
        if (Environment.GetEnvironmentVariable(name) is { } value)
        {
            info.Environment[name] = value;
        }
    }

    private void OnStderr(object sender, DataReceivedEventArgs e)
    {
        if (e.Data is { } line)
        {
            _stderr.Add(line);
            StdioLog.Stderr(Logger, Name, line);
        }
    }

    /// <summary>Waits for the process to end, drains its output and fails the calls it took with it.</summary>
    private async Task<int> WatchExitAsync(Process process, Task exited, Task reader)
    {
        await Task.WhenAny(reader, exited).ConfigureAwait(false);
        if (!exited.IsCompleted)
        {
            // stdout closed while the process lives on: it can no longer answer anything.
            KillTree(process);
        }

        // Responses written just before the exit are still in the pipe: deliver them before failing calls.
        await Task.WhenAny(reader, Task.Delay(DrainTimeout)).ConfigureAwait(false);
        if (reader.IsFaulted)
        {
            StdioLog.ReaderFailed(Logger, Name, reader.Exception);
        }

        try
        {
            using var drain = new CancellationTokenSource(DrainTimeout);
            await process.WaitForExitAsync(drain.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // stderr is held open by a grandchild; the exit code is known anyway.
        }

        var exitCode = process.HasExited ? process.ExitCode : -1;
        _stdin = null;
        FailAllPending(UpstreamError.Disconnected, $"MCP server '{Name}' exited with code {exitCode} during the call; last stderr: {_stderr.Tail(maxLines: 5, maxChars: 1000)}");
        return exitCode;
    }

    private async Task ReadStdoutAsync(Stream stdout)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(ReadBufferSize);
        var start = 0;
        var end = 0;
        var scanned = 0;
        var discarding = false;
        try
        {
            while (true)
            {
                int read;
                try
                {
                    read = await stdout.ReadAsync(buffer.AsMemory(end), CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is IOException or ObjectDisposedException)
                {
                    return;
                }

                if (read == 0)
                {
                    return;
                }

                end += read;
                while (true)
                {
                    var newline = buffer.AsSpan(scanned, end - scanned).IndexOf((byte)'\n');
                    if (newline < 0)
                    {
                        scanned = end;
                        break;
                    }

                    var lineEnd = scanned + newline;
                    if (discarding)
                    {
                        discarding = false;
                    }
                    else
                    {
                        OnLine(buffer.AsSpan(start, lineEnd - start));
                    }

                    start = scanned = lineEnd + 1;
                }

                if (start == end)
                {
                    start = end = scanned = 0;
                }
                else if (end == buffer.Length)
                {
                    if (start > 0)
                    {
                        buffer.AsSpan(start, end - start).CopyTo(buffer);
                        end -= start;
                        scanned -= start;
                        start = 0;
                    }
                    else if (buffer.Length >= MaxLineBytes)
                    {
                        StdioLog.LineTooLong(Logger, Name, MaxLineBytes);
                        discarding = true;
                        start = end = scanned = 0;
                    }
                    else
                    {
                        var bigger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                        buffer.AsSpan(0, end).CopyTo(bigger);
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = bigger;
                    }
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private void OnLine(ReadOnlySpan<byte> line)
    {
        line = line.TrimEnd((byte)'\r');
        if (line.Trim(" \t"u8).IsEmpty)
        {
            return;
        }

        if (UpstreamMessage.TryCreate(line, out var error) is { } message)
        {
            Dispatch(message, null);
            return;
        }

        if (error == JsonRpcParseError.Ambiguous)
        {
            RefuseAmbiguous(line, null);
            return;
        }

        StdioLog.NonJsonLine(Logger, Name, LogText.Utf8(line, 200));
    }

    protected override async ValueTask<UpstreamCallResult> SendRequestCoreAsync(ReadOnlyMemory<byte> request, PendingCall call, bool idempotent, CancellationToken cancellationToken) =>
        await WriteLineAsync(request, cancellationToken).ConfigureAwait(false) is { } failure
            ? UpstreamCallResult.Failure(UpstreamError.Disconnected, failure)
            : default;

    public override async ValueTask<bool> SendAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken) =>
        await WriteLineAsync(message, cancellationToken).ConfigureAwait(false) is null;

    /// <summary>Writes one message and a newline; returns why it failed, or null.</summary>
    private async ValueTask<string?> WriteLineAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        if (_stdin is null)
        {
            return NotRunning(null);
        }

        // One buffer, one write: the message and its newline reach the pipe together.
        var length = message.Length + 1;
        var frame = ArrayPool<byte>.Shared.Rent(length);
        message.Span.CopyTo(frame);
        // Raw CR/LF can only be insignificant whitespace in valid JSON, but on stdio they would split the message.
        frame.AsSpan(0, message.Length).Replace((byte)'\n', (byte)' ');
        frame.AsSpan(0, message.Length).Replace((byte)'\r', (byte)' ');
        frame[message.Length] = (byte)'\n';
        try
        {
            await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                var stdin = _stdin;
                if (stdin is null)
                {
                    return NotRunning(null);
                }

                // Not cancellable once started: half a message would corrupt the framing for every later one.
                await stdin.WriteAsync(frame.AsMemory(0, length), CancellationToken.None).ConfigureAwait(false);
                await stdin.FlushAsync(CancellationToken.None).ConfigureAwait(false);
                return null;
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException)
            {
                return NotRunning(ex.Message);
            }
            finally
            {
                _writeLock.Release();
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(frame);
        }
    }

    private string NotRunning(string? cause) =>
        cause is null
            ? $"MCP server '{Name}' is not running: {StateDetail ?? "exited"}"
            : $"MCP server '{Name}' is not running: writing to its stdin failed: {cause}";

    private static void KillTree(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or Win32Exception or NotSupportedException)
        {
            // Already exited (or disposed) between the check and the kill.
        }
    }

    public override async ValueTask DisposeAsync()
    {
        if (!TryMarkDisposed())
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_process is { } process)
        {
            KillTree(process);
        }

        if (Supervisor is { } supervisor)
        {
            try
            {
                await supervisor.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // The process ignored SIGKILL's aftermath (pipes held by an orphan); stop waiting.
            }
        }

        _stdin = null;
        FailAllPending(UpstreamError.Unavailable, $"MCP server '{Name}' was stopped");
        SetState(UpstreamState.Stopped, $"MCP server '{Name}' was stopped");
        FirstAttemptDone();
        _stopping.Dispose();
    }
}
