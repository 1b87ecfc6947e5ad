using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using Archestra.Runtime.JsonRpc;
using Archestra.Runtime.Upstreams;

namespace Archestra.Gateway.Mcp;

/// <summary>One request of a 2025 server waiting for a modern client's answer: its key in <c>inputRequests</c>, and the server's id.</summary>
/// <param name="Request">The <c>{"method":…,"params":…}</c> object a modern client reads in <c>inputRequests</c>.</param>
internal sealed record AskedInput(string Key, byte[] UpstreamId, byte[] Request);

/// <summary>
/// A modern client's tools/call to a 2025 server, held by this process while the server waits for the client's input
/// (2026-07-28 basic/patterns/mrtr). The server's <c>elicitation/create</c>, <c>sampling/createMessage</c> and
/// <c>roots/list</c> cannot reach a client that keeps no stream open, so the call runs on, detached from any HTTP request:
/// each client request attached to it (the first, then each retry) is answered with the call's result, or with
/// <c>input_required</c> listing what the server asked; the retry's <c>inputResponses</c> go back to the server as the
/// answers to its requests. Closing an attached request's stream cancels the call; a call nobody retries is cancelled
/// when its state expires.
/// </summary>
internal sealed class InputRoundCall : IUpstreamCallObserver
{
    /// <summary>A server that asks for more than this in one call without being answered is refused the rest.</summary>
    private const int MaxAsked = 16;

    /// <summary>
    /// How long after a question the gateway waits for the next one before answering <c>input_required</c>. A person answers
    /// these, so 50 ms is not felt; requests written back to back by one server arrive well within it.
    /// </summary>
    private static readonly TimeSpan SettleTime = TimeSpan.FromMilliseconds(50);

    /// <summary>At most this many settle periods (0.5 s), however fast a server keeps asking (it is refused past <see cref="MaxAsked"/>).</summary>
    private const int MaxSettles = 10;

    private readonly Lock _gate = new();
    private readonly List<AskedInput> _asked = [];
    private readonly Action<UpstreamEntry, UpstreamMessage, string> _reject;
    private CallRelay? _relay;
    private ClientCapabilities _capabilities;
    private TaskCompletionSource? _inputNeeded;
    private int _nextKey;
    private int _round;
    private bool _attached;
    private bool _ended;

    public InputRoundCall(
        long number,
        UpstreamEntry server,
        McpEndpoint.ToolCallLabels labels,
        long started,
        ClientCapabilities capabilities,
        Action<UpstreamEntry, UpstreamMessage, string> reject,
        bool isTool
    )
    {
        _capabilities = capabilities;
        IsTool = isTool;
        Number = number;
        Server = server;
        Labels = labels;
        Started = started;
        _reject = reject;
        _attached = true;
    }

    /// <summary>The call's number in this process, sealed into its requestState with the process's instance id.</summary>
    public long Number { get; }

    public UpstreamEntry Server { get; }

    /// <summary>
    /// What the invocation policy decided when a tool call started; its audit row and metrics carry these labels. For a
    /// <c>prompts/get</c> only profile, server and the name its state is sealed for count.
    /// </summary>
    public McpEndpoint.ToolCallLabels Labels { get; }

    /// <summary>A tools/call (audited and counted as one); false for a prompts/get, which has neither.</summary>
    public bool IsTool { get; }

    /// <summary>When the first request arrived (<see cref="System.Diagnostics.Stopwatch"/> ticks): the call's duration spans every round.</summary>
    public long Started { get; }

    /// <summary>SHA-256 of profile, tool and arguments, set when the call is first held; a retry must carry the very same call.</summary>
    public byte[]? Digest { get; set; }

    /// <summary>The first request's size and audit text of its arguments, for the row of a call nobody retried.</summary>
    public (int RequestBytes, string? Arguments) Audit { get; set; }

    /// <summary>Cancels the upstream call: the attached client closed its stream, or nobody retried in time.</summary>
    public CancellationTokenSource Cancel { get; } = new();

    public Task<UpstreamCallResult> Completion { get; private set; } = null!;

    /// <summary>Sends the call (the buffer is rented and returned when the call ends).</summary>
    public void Start(byte[] forward, int length, long upstreamId) => Completion = RunAsync(forward, length, upstreamId);

    private async Task<UpstreamCallResult> RunAsync(byte[] forward, int length, long upstreamId)
    {
        try
        {
            return await Server.Upstream.CallAsync(forward.AsMemory(0, length), upstreamId, idempotent: false, this, Cancel.Token).ConfigureAwait(false);
        }
        finally
        {
            Runtime.Buffers.BytePool.Return(forward);
        }
    }

    /// <summary>How many times the call has been answered with <c>input_required</c>; the latest state carries this round.</summary>
    public int Round => Volatile.Read(ref _round);

    /// <summary>Starts the next round of input: its state is the one the next retry must carry.</summary>
    public int NextRound() => Interlocked.Increment(ref _round);

    /// <summary>
    /// Claims the call for one retry; false while another request is attached, after the call ended, or when
    /// <paramref name="round"/> (the retry's state) is not the latest round.
    /// </summary>
    public bool TryAttach(int? round = null)
    {
        lock (_gate)
        {
            if (_attached || _ended || (round is { } r && r != _round))
            {
                return false;
            }

            _attached = true;
            return true;
        }
    }

    /// <summary>
    /// Waits, for the attached request, until the call ends (its result) or the server asks for input (null: answer
    /// input_required with <see cref="Unanswered"/>). <paramref name="aborted"/> (the client closed its stream) cancels the call.
    /// </summary>
    public async Task<UpstreamCallResult?> NextAsync(CallRelay relay, ClientCapabilities capabilities, CancellationToken aborted)
    {
        TaskCompletionSource inputNeeded;
        lock (_gate)
        {
            _relay = relay;
            _capabilities = capabilities;
            inputNeeded = _inputNeeded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (_asked.Count > 0)
            {
                inputNeeded.TrySetResult();
            }
        }

        Cancel.CancelAfter(Timeout.InfiniteTimeSpan);
        using (aborted.UnsafeRegister(static s => ((InputRoundCall)s!).CancelQuietly(), this))
        {
            await Task.WhenAny(Completion, inputNeeded.Task).ConfigureAwait(false);
            await SettleAsync().ConfigureAwait(false);
        }

        lock (_gate)
        {
            _relay = null;
            _inputNeeded = null;
            _attached = false;
            if (!Completion.IsCompleted)
            {
                return null;
            }

            _ended = true;
        }

        Cancel.Dispose();
        return await Completion.ConfigureAwait(false);
    }

    /// <summary>
    /// Waits while the server's questions keep coming: one that asks several things at once (the C# SDK, resolving an MRTR
    /// batch for a 2025 client, sends every request concurrently) writes them back to back, and they should reach the client
    /// in one <c>input_required</c> rather than one per round. Ends at the first <see cref="SettleTime"/> without a new one.
    /// </summary>
    private async Task SettleAsync()
    {
        for (var i = 0; i < MaxSettles && !Completion.IsCompleted; i++)
        {
            int before;
            lock (_gate)
            {
                before = _asked.Count;
            }

            await Task.WhenAny(Completion, Task.Delay(SettleTime)).ConfigureAwait(false);
            lock (_gate)
            {
                if (_asked.Count == before)
                {
                    return;
                }
            }
        }
    }

    /// <summary>Leaves the call waiting for a retry until <paramref name="expiry"/>; then it is cancelled (<see cref="Abandon"/>).</summary>
    public void Hold(TimeSpan expiry, Action<InputRoundCall> abandoned)
    {
        Cancel.Token.UnsafeRegister(
            static (s, _) => ((InputRoundCall)((object[])s!)[0]).Abandon((Action<InputRoundCall>)((object[])s!)[1]),
            new object[] { this, abandoned }
        );
        Cancel.CancelAfter(expiry);
    }

    private void Abandon(Action<InputRoundCall> abandoned)
    {
        lock (_gate)
        {
            if (_attached || _ended)
            {
                return;
            }

            _ended = true;
        }

        abandoned(this);
    }

    private void CancelQuietly()
    {
        try
        {
            Cancel.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The call ended in the meantime.
        }
    }

    /// <summary>The server's requests the client has not answered yet, in the order asked.</summary>
    public AskedInput[] Unanswered()
    {
        lock (_gate)
        {
            return [.. _asked];
        }
    }

    /// <summary>Refuses every unanswered request to the server (the call could not be held for the client).</summary>
    public void RefuseAsked(string reason)
    {
        AskedInput[] asked;
        lock (_gate)
        {
            asked = [.. _asked];
            _asked.Clear();
        }

        foreach (var input in asked)
        {
            var error = JsonRpcWriter.Error(input.UpstreamId, ErrorCodes.MethodNotFound, $"Archestra gateway cannot relay the request: {reason}");
            _ = McpGateway.SendQuietlyAsync(Server, error);
        }
    }

    /// <summary>
    /// The server's answers found in a retry's <c>inputResponses</c> (each value the client's bare result object), as
    /// JSON-RPC responses to send the server; answered requests are no longer asked. Unknown keys are ignored, as the spec says.
    /// </summary>
    public List<byte[]> TakeAnswers(ReadOnlySpan<byte> inputResponses)
    {
        var answers = new List<byte[]>();
        if (inputResponses.IsEmpty || inputResponses[0] != (byte)'{')
        {
            return answers;
        }

        lock (_gate)
        {
            for (var i = _asked.Count - 1; i >= 0; i--)
            {
                var asked = _asked[i];
                var value = JsonObjectScan.FindValue(inputResponses, System.Text.Encoding.UTF8.GetBytes(asked.Key)).Of(inputResponses);
                if (value.IsEmpty || value[0] != (byte)'{')
                {
                    continue;
                }

                var buffer = new ArrayBufferWriter<byte>(value.Length + asked.UpstreamId.Length + 40);
                buffer.Write("{\"jsonrpc\":\"2.0\",\"id\":"u8);
                buffer.Write(asked.UpstreamId);
                buffer.Write(",\"result\":"u8);
                buffer.Write(value);
                buffer.Write("}"u8);
                answers.Add(buffer.WrittenSpan.ToArray());
                _asked.RemoveAt(i);
            }
        }

        return answers;
    }

    public void OnRelated(UpstreamMessage message)
    {
        if (message.Kind == JsonRpcKind.Request && InputKind(message) is { } kind)
        {
            string? refusal = null;
            lock (_gate)
            {
                if (!Declared(kind, _capabilities))
                {
                    refusal = "the client did not declare this capability in its _meta";
                }
                else if (_asked.Count >= MaxAsked)
                {
                    refusal = $"the call already waits for {MaxAsked} answers from the client";
                }
                else
                {
                    _asked.Add(new AskedInput($"{kind}-{++_nextKey}", message.Envelope.Id.Of(message.Span).ToArray(), InputRequest(message)));
                    _inputNeeded?.TrySetResult();
                }
            }

            if (refusal is not null)
            {
                _reject(Server, message, refusal);
            }

            return;
        }

        CallRelay? relay;
        lock (_gate)
        {
            relay = _relay;
        }

        if (relay is not null)
        {
            relay.OnRelated(message);
        }
        else if (message.Kind == JsonRpcKind.Request)
        {
            _reject(Server, message, "the client has no request open to receive it");
        }
    }

    private static string? InputKind(UpstreamMessage message) =>
        message.MethodIs("elicitation/create"u8) ? "elicitation"
        : message.MethodIs("sampling/createMessage"u8) ? "sampling"
        : message.MethodIs("roots/list"u8) ? "roots"
        : null;

    private static bool Declared(string kind, ClientCapabilities capabilities) =>
        kind switch
        {
            "elicitation" => capabilities.Elicitation,
            "sampling" => capabilities.Sampling,
            _ => capabilities.Roots,
        };

    /// <summary>The server's request without its JSON-RPC framing: <c>{"method":…,"params":…}</c> (an input request, mrtr "InputRequests").</summary>
    private static byte[] InputRequest(UpstreamMessage message)
    {
        var span = message.Span;
        var env = message.Envelope;
        var buffer = new ArrayBufferWriter<byte>(env.Params.Length + env.Method.Length + 32);
        buffer.Write("{\"method\":\""u8);
        buffer.Write(env.Method.Of(span));
        buffer.Write("\""u8);
        if (!env.Params.IsEmpty)
        {
            buffer.Write(",\"params\":"u8);
            buffer.Write(env.Params.Of(span));
        }

        buffer.Write("}"u8);
        return buffer.WrittenSpan.ToArray();
    }
}

/// <summary>Where a continuation's call is: here, in another gateway process, or ended.</summary>
internal enum HeldCallPlace : byte
{
    Here,
    Elsewhere,
    Ended,
}

/// <summary>
/// The calls this process holds for modern clients' retries, by number. Bounded by <c>limits.maxSessions</c>: a held call
/// plays the part a session plays for a 2025 client. The instance id tells this process's states from another's.
/// </summary>
internal sealed class InputRounds(int capacity)
{
    private readonly ConcurrentDictionary<long, InputRoundCall> _held = new();
    private long _next;

    /// <summary>8 random bytes per process: the first half of every handle this process seals.</summary>
    public byte[] Instance { get; } = RandomNumberGenerator.GetBytes(8);

    public int Count => _held.Count;

    public long NextNumber() => Interlocked.Increment(ref _next);

    /// <summary>The handle sealed into a requestState: this process's instance id and the call's number.</summary>
    public byte[] Handle(InputRoundCall call)
    {
        var handle = new byte[16];
        Instance.CopyTo(handle, 0);
        BinaryPrimitives.WriteInt64BigEndian(handle.AsSpan(8), call.Number);
        return handle;
    }

    public bool TryHold(InputRoundCall call)
    {
        if (_held.ContainsKey(call.Number))
        {
            return true;
        }

        if (_held.Count >= capacity)
        {
            return false;
        }

        _held[call.Number] = call;
        return true;
    }

    public void Release(InputRoundCall call) => _held.TryRemove(call.Number, out _);

    public (InputRoundCall? Call, HeldCallPlace Place) Find(ReadOnlySpan<byte> handle)
    {
        if (!handle[..8].SequenceEqual(Instance))
        {
            return (null, HeldCallPlace.Elsewhere);
        }

        return _held.TryGetValue(BinaryPrimitives.ReadInt64BigEndian(handle[8..]), out var call) ? (call, HeldCallPlace.Here) : (null, HeldCallPlace.Ended);
    }
}
