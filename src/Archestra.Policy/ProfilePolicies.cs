using System.Buffers;
using System.Collections.Frozen;
using System.Text.Unicode;
using Archestra.Policy.Evaluation;

namespace Archestra.Policy;

/// <summary>
/// The compiled policies and tool defaults of one profile. Evaluation reads the document once, allocates
/// nothing and takes no lock; see <see cref="PolicyCompiler"/> for the semantics.
/// </summary>
public sealed class ProfilePolicies
{
    internal const string BuiltInPrefix = "archestra__";

    /// <summary>Tool names up to this many UTF-8 bytes are transcoded on the stack for the lookup (256 B).</summary>
    private const int StackChars = 128;

    private static readonly ToolSettings Defaults = new();

    private static readonly InvocationDecision BuiltInInvocation = new(InvocationVerdict.Allow, DecisionSource.BuiltIn, null, "Archestra built-in tool");

    private static readonly InvocationDecision TrustedContext = new(
        InvocationVerdict.Allow,
        DecisionSource.TrustedContext,
        null,
        "the context is trusted and no policy blocks the call"
    );

    private static readonly InvocationDecision DefaultAllow = new(
        InvocationVerdict.Allow,
        DecisionSource.Default,
        null,
        "the tool's default allows use when untrusted data is present"
    );

    private static readonly InvocationDecision DefaultBlock = new(
        InvocationVerdict.Block,
        DecisionSource.Default,
        null,
        "untrusted data is present in this context and the tool's default does not allow use then"
    );

    private static readonly InvocationDecision MalformedArguments = new(
        InvocationVerdict.Block,
        DecisionSource.Default,
        null,
        "the arguments are not valid JSON"
    );

    private static readonly ResultDecision BuiltInResult = new(ResultVerdict.Trusted, DecisionSource.BuiltIn, null, "Archestra built-in tool");

    private static readonly ResultDecision DefaultTrusted = new(
        ResultVerdict.Trusted,
        DecisionSource.Default,
        null,
        "the tool's default treats its results as trusted"
    );

    private static readonly ResultDecision DefaultUntrusted = new(
        ResultVerdict.Untrusted,
        DecisionSource.Default,
        null,
        "the tool's default treats its results as untrusted"
    );

    private static readonly ResultDecision DefaultSanitize = new(
        ResultVerdict.SanitizeWithDualLlm,
        DecisionSource.Default,
        null,
        "the tool's default sanitizes its results with the dual LLM"
    );

    private static readonly ResultDecision MalformedResult = new(ResultVerdict.Untrusted, DecisionSource.Default, null, "the result is not valid JSON");

    private readonly FrozenDictionary<string, CompiledTool> _tools;
    private readonly FrozenDictionary<string, CompiledTool>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private readonly FrozenDictionary<string, CompiledTool> _serverDefaults;
    private readonly FrozenDictionary<string, CompiledTool>.AlternateLookup<ReadOnlySpan<char>> _serverLookup;
    private readonly CompiledTool? _profileDefault;

    /// <param name="tools">Tools with their own settings or policies.</param>
    /// <param name="serverDefaults">Settings for the other tools of a server (<c>{server}__*</c>), by server.</param>
    /// <param name="profileDefault">Settings for every other tool (<c>*</c>); null: the global defaults.</param>
    internal ProfilePolicies(FrozenDictionary<string, CompiledTool> tools, FrozenDictionary<string, CompiledTool> serverDefaults, CompiledTool? profileDefault)
    {
        _tools = tools;
        _lookup = tools.GetAlternateLookup<ReadOnlySpan<char>>();
        _serverDefaults = serverDefaults;
        _serverLookup = serverDefaults.GetAlternateLookup<ReadOnlySpan<char>>();
        _profileDefault = profileDefault;
    }

    internal static ProfilePolicies DefaultsOnly { get; } =
        new(
            new Dictionary<string, CompiledTool>().ToFrozenDictionary(StringComparer.Ordinal),
            new Dictionary<string, CompiledTool>().ToFrozenDictionary(StringComparer.Ordinal),
            null
        );

    /// <summary>Decides one tool call. <paramref name="argumentsJson"/> empty means no arguments (<c>{}</c>).</summary>
    public InvocationDecision EvaluateInvocation(ReadOnlySpan<byte> toolUtf8, ReadOnlySpan<byte> argumentsJson, bool contextTrusted) =>
        toolUtf8.StartsWith("archestra__"u8) ? BuiltInInvocation : Invocation(Find(toolUtf8), argumentsJson, contextTrusted);

    /// <inheritdoc cref="EvaluateInvocation(ReadOnlySpan{byte}, ReadOnlySpan{byte}, bool)"/>
    public InvocationDecision EvaluateInvocation(string tool, ReadOnlySpan<byte> argumentsJson, bool contextTrusted) =>
        tool.StartsWith(BuiltInPrefix, StringComparison.Ordinal)
            ? BuiltInInvocation
            : Invocation(_tools.GetValueOrDefault(tool) ?? Fallback(tool), argumentsJson, contextTrusted);

    /// <summary>
    /// Whether <see cref="EvaluateInvocation(string, ReadOnlySpan{byte}, bool)"/> blocks every call of <paramref name="tool"/> in
    /// a context of this trust, whatever its arguments: an unconditional block rule decides before any rule that could allow
    /// a call (or ask for approval), or, in an untrusted context, no such rule exists and the tool's default blocks. False
    /// when some arguments might be allowed. What a dynamic tool list leaves out; calls are still decided one by one.
    /// </summary>
    public bool RefusesEveryCall(string tool, bool contextTrusted)
    {
        if (tool.StartsWith(BuiltInPrefix, StringComparison.Ordinal))
        {
            return false;
        }

        var compiled = _tools.GetValueOrDefault(tool) ?? Fallback(tool);
        if (compiled?.Invocation is { } program)
        {
            var mask = contextTrusted ? Precedence.TrustedInvocationMask : Precedence.AllMask;
            foreach (var rule in program.Rules)
            {
                if ((mask & (1 << rule.Precedence)) == 0)
                {
                    continue;
                }

                var blocks = rule.Precedence is Precedence.BlockAlways or Precedence.BlockWhenUntrusted;
                if (rule.ConditionCount == 0 || !blocks)
                {
                    // Matches every call and decides; or matches some calls, which it would not refuse.
                    return blocks && rule.ConditionCount == 0;
                }
            }
        }

        return !contextTrusted && !(compiled?.Settings ?? Defaults).AllowUsageWhenUntrustedDataIsPresent;
    }

    /// <summary>Decides how one tool result (the whole result JSON, e.g. an MCP CallToolResult) affects trust.</summary>
    public ResultDecision EvaluateResult(ReadOnlySpan<byte> toolUtf8, ReadOnlySpan<byte> resultJson) =>
        toolUtf8.StartsWith("archestra__"u8) ? BuiltInResult : Result(Find(toolUtf8), resultJson);

    /// <inheritdoc cref="EvaluateResult(ReadOnlySpan{byte}, ReadOnlySpan{byte})"/>
    public ResultDecision EvaluateResult(string tool, ReadOnlySpan<byte> resultJson) =>
        tool.StartsWith(BuiltInPrefix, StringComparison.Ordinal) ? BuiltInResult : Result(_tools.GetValueOrDefault(tool) ?? Fallback(tool), resultJson);

    /// <summary>The tool's configured defaults, or the global defaults (use blocked when untrusted, results untrusted).</summary>
    public ToolSettings SettingsFor(string tool) => (_tools.GetValueOrDefault(tool) ?? Fallback(tool))?.Settings ?? Defaults;

    /// <summary>The wildcard settings for a tool with none of its own: its server's, else the profile's, else null.</summary>
    private CompiledTool? Fallback(ReadOnlySpan<char> tool)
    {
        if (_serverDefaults.Count != 0)
        {
            var separator = tool.IndexOf("__", StringComparison.Ordinal);
            if (separator > 0 && _serverLookup.TryGetValue(tool[..separator], out var server))
            {
                return server;
            }
        }

        return _profileDefault;
    }

    private static InvocationDecision Invocation(CompiledTool? tool, ReadOnlySpan<byte> arguments, bool trusted)
    {
        var program = tool?.Invocation;
        if (program is not null)
        {
            var match = program.FirstMatch(arguments, trusted ? Precedence.TrustedInvocationMask : Precedence.AllMask);
            if (match >= 0)
            {
                var rule = program.Rules[match];
                var verdict = rule.Precedence switch
                {
                    Precedence.RequireApproval => InvocationVerdict.RequireApproval,
                    Precedence.AllowWhenUntrusted => InvocationVerdict.Allow,
                    _ => InvocationVerdict.Block,
                };
                return new InvocationDecision(verdict, DecisionSource.Policy, rule.Id, rule.Reason);
            }

            if (match == RuleProgram.Malformed)
            {
                return MalformedArguments;
            }
        }

        if (trusted)
        {
            return TrustedContext;
        }

        return (tool?.Settings ?? Defaults).AllowUsageWhenUntrustedDataIsPresent ? DefaultAllow : DefaultBlock;
    }

    private static ResultDecision Result(CompiledTool? tool, ReadOnlySpan<byte> result)
    {
        var program = tool?.Result;
        if (program is not null)
        {
            var match = program.FirstMatch(result, Precedence.AllMask);
            if (match >= 0)
            {
                var rule = program.Rules[match];
                var verdict = rule.Precedence switch
                {
                    Precedence.BlockAlways => ResultVerdict.Block,
                    Precedence.MarkUntrusted => ResultVerdict.Untrusted,
                    Precedence.Sanitize => ResultVerdict.SanitizeWithDualLlm,
                    _ => ResultVerdict.Trusted,
                };
                return new ResultDecision(verdict, DecisionSource.Policy, rule.Id, rule.Reason);
            }

            if (match == RuleProgram.Malformed)
            {
                return MalformedResult;
            }
        }

        return (tool?.Settings ?? Defaults).ResultTreatment switch
        {
            ResultTreatment.Trusted => DefaultTrusted,
            ResultTreatment.SanitizeWithDualLlm => DefaultSanitize,
            _ => DefaultUntrusted,
        };
    }

    private CompiledTool? Find(ReadOnlySpan<byte> utf8)
    {
        if (_tools.Count == 0 && _serverDefaults.Count == 0)
        {
            return _profileDefault;
        }

        char[]? rented = null;
        var chars = utf8.Length <= StackChars ? stackalloc char[StackChars] : (rented = ArrayPool<char>.Shared.Rent(utf8.Length));
        try
        {
            // Invalid UTF-8 cannot name a configured tool.
            if (Utf8.ToUtf16(utf8, chars, out _, out var written, replaceInvalidSequences: false) != OperationStatus.Done)
            {
                return null;
            }

            return _lookup.TryGetValue(chars[..written], out var tool) ? tool : Fallback(chars[..written]);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<char>.Shared.Return(rented);
            }
        }
    }
}
