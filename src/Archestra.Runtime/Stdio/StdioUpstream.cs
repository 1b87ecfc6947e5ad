using System.ComponentModel;
using System.Diagnostics;
using System.Text;
using Archestra.Runtime.Buffers;
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

    // The first read is usually a whole message; lines grow the buffer up to StdioUpstreamOptions.MaxLineBytes.
    private const int ReadBufferSize = 64 * 1024;

    // stderr is read in small pieces: it is logs, and a line is kept only up to MaxStderrLineBytes.
    private const int StderrBufferSize = 4 * 1024;

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

        // Not BeginErrorReadLine: it builds each line in a StringBuilder with no limit.
        var stderrReader = Task.Run(
            () => LineSplitter.ReadAsync(process.StandardError.BaseStream, _options.MaxStderrLineBytes, StderrBufferSize, new StderrSink(this)),
            CancellationToken.None
        );
        _stdin = stdin;
        _process = process;
        var watch = WatchExitAsync(process, exited.Task, reader, stderrReader);

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
        var downDetail =
            handshake.IsSuccess || handshake.Error == UpstreamError.Disconnected
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
        try
        {
            process.Start();
        }
        catch
        {
            process.Dispose();
            throw;
        }

        return (process, exited);
    }

    private static void CopyFromGateway(ProcessStartInfo info, string name)
    {
        if (Environment.GetEnvironmentVariable(name) is { } value)
        {
            info.Environment[name] = value;
        }
    }

    private void OnStderrLine(ReadOnlySpan<byte> line)
    {
        var text = Encoding.UTF8.GetString(line.TrimEnd((byte)'\r'));
        _stderr.Add(text);
        StdioLog.Stderr(Logger, Name, text);
    }

    /// <summary>stderr lines for the tail and the log; an overlong one keeps its head (the message) and says how much was dropped.</summary>
    private sealed class StderrSink(StdioUpstream upstream) : ILineSink
    {
        public void OnLine(ReadOnlySpan<byte> line) => upstream.OnStderrLine(line);

        public void OnOverlong(ReadOnlySpan<byte> head) => upstream.OnStderrLine(head);

        public void OnOverlongEnd(ReadOnlySpan<byte> tail, long length) =>
            StdioLog.StderrLineTruncated(upstream.Logger, upstream.Name, length, upstream._options.MaxStderrLineBytes);
    }

    /// <summary>
    /// JSON-RPC messages from stdout. A line over the limit is a message that cannot be delivered: the call it answers
    /// fails now instead of waiting for its timeout. Its id is looked for in the head (<c>{"jsonrpc","id",...}</c>,
    /// as the Python SDK writes it), then in the tail (<c>{...,"id":N}</c>, as the TypeScript SDK writes it); when
    /// neither names a call, the only call in flight is the one it answers.
    /// </summary>
    private sealed class StdoutSink(StdioUpstream upstream) : ILineSink
    {
        private bool _failed;

        public void OnLine(ReadOnlySpan<byte> line) => upstream.OnLine(line);

        public void OnOverlong(ReadOnlySpan<byte> head)
        {
            _failed = OverlongIds.TryReadFromHead(head, out var id) && upstream.FailPending(id, UpstreamError.Protocol, upstream.TooLarge());
        }

        public void OnOverlongEnd(ReadOnlySpan<byte> tail, long length)
        {
            StdioLog.LineTooLong(upstream.Logger, upstream.Name, length, upstream._options.MaxLineBytes);
            if (!_failed && !(OverlongIds.TryReadFromTail(tail, out var id) && upstream.FailPending(id, UpstreamError.Protocol, upstream.TooLarge())))
            {
                upstream.FailSoleInFlight(UpstreamError.Protocol, upstream.TooLarge());
            }

            _failed = false;
        }
    }

    private string TooLarge() => $"MCP server '{Name}' answered with a message larger than the limit of {_options.MaxLineBytes} bytes; it was discarded";

    /// <summary>Waits for the process to end, drains its output and fails the calls it took with it.</summary>
    private async Task<int> WatchExitAsync(Process process, Task exited, Task reader, Task stderrReader)
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
            // The exit code is known anyway.
        }

        // The last stderr lines name the error; a grandchild holding stderr open must not hold the exit up.
        await Task.WhenAny(stderrReader, Task.Delay(DrainTimeout)).ConfigureAwait(false);

        var exitCode = process.HasExited ? process.ExitCode : -1;
        _stdin = null;
        FailAllPending(
            UpstreamError.Disconnected,
            $"MCP server '{Name}' exited with code {exitCode} during the call; last stderr: {_stderr.Tail(maxLines: 5, maxChars: 1000)}"
        );
        return exitCode;
    }

    private Task ReadStdoutAsync(Stream stdout) => LineSplitter.ReadAsync(stdout, _options.MaxLineBytes, ReadBufferSize, new StdoutSink(this));

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

    protected override async ValueTask<UpstreamCallResult> SendRequestCoreAsync(
        ReadOnlyMemory<byte> request,
        PendingCall call,
        bool idempotent,
        CancellationToken cancellationToken
    ) =>
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
        var frame = BytePool.Rent(length);
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
            BytePool.Return(frame);
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
