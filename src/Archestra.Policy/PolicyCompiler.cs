using System.Collections.Frozen;
using System.Text;
using System.Text.RegularExpressions;
using Archestra.Policy.Compilation;
using Archestra.Policy.Evaluation;

namespace Archestra.Policy;

/// <summary>
/// Validates and compiles a <see cref="PolicySetDefinition"/> into an immutable <see cref="PolicySnapshot"/>.
/// </summary>
/// <remarks>
/// <para><b>Tools.</b> Tools are namespaced <c>{server}__{tool}</c>: the server is everything before the first
/// <c>__</c>, and neither part is empty. Tools whose name starts with <c>archestra__</c> are Archestra built-ins:
/// a call is always Allow (source BuiltIn) and a result always Trusted (source BuiltIn); they take no policies
/// and no settings. Policy tool names are matched exactly. Tools are discovered at run time, so the compiler
/// checks the server part only.</para>
///
/// <para><b>Profiles.</b> A policy with an empty <c>Profiles</c> list applies to every profile whose
/// <c>Servers</c> contains the tool's server; if no profile does, that is an error. A policy that names
/// profiles applies to exactly those, and each must exist and expose the tool's server. A profile with
/// <see cref="ProfilePolicyInput.AgentTools"/> (one the LLM proxy serves) judges tools agents name themselves:
/// policies and settings for it may name any tool without <c>*</c> (not a built-in), and a policy without
/// <c>Profiles</c> applies to it whatever its tool.</para>
///
/// <para><b>Compile errors.</b> Compilation returns every error, never a partial snapshot. Each names the
/// policy (<c>policy "id"</c>, or <c>toolInvocation[i]</c>/<c>trustedData[i]</c> when the id is empty) or the
/// profile, and the field (<c>id</c>, <c>tool</c>, <c>profiles[i]</c>, <c>action</c>,
/// <c>conditions[i].key|operator|value</c>, <c>tools["name"]</c>). Errors: empty or duplicate id (ids are
/// unique across both lists); tool not of the form <c>{server}__{tool}</c> or a built-in; server exposed by no
/// profile the policy applies to; unknown profile; action not valid for its list; unknown operator; key path
/// that does not parse; regex that does not parse or that the non-backtracking engine does not support
/// (backreferences, lookarounds, atomic groups); a profile that is unnamed or named twice; a tool setting
/// whose key is not <c>{server}__{tool}</c>, <c>{server}__*</c> or <c>*</c> with the server in that profile's
/// <c>Servers</c>. Settings keyed <c>{server}__*</c> apply to that server's tools and <c>*</c> to every tool of
/// the profile, each only where no more specific key exists. An empty
/// reason is allowed: the decision then says "policy &lt;id&gt; matched".</para>
///
/// <para><b>Actions.</b> Tool-invocation policies: <c>allow_when_context_is_untrusted</c>,
/// <c>block_when_context_is_untrusted</c>, <c>block_always</c>, <c>require_approval</c>. Trusted-data
/// policies: <c>mark_as_trusted</c>, <c>mark_as_untrusted</c>, <c>block_always</c>,
/// <c>sanitize_with_dual_llm</c>.</para>
///
/// <para><b>Key paths.</b> Dot-separated property names; <c>[*]</c> is any element of an array and
/// <c>[N]</c> element N (zero-based): <c>path</c>, <c>options.recursive</c>, <c>recipients[*]</c>,
/// <c>messages[*].to[0]</c>. A path starts with a property name. Names compare as exact UTF-8 with the JSON
/// property name after unescaping. Empty names, unbalanced brackets and indexes that are neither <c>*</c>
/// nor a non-negative integer are errors. Invocation paths start at the arguments object; result paths
/// at the whole result JSON (for MCP, the CallToolResult: <c>content[*].text</c>,
/// <c>structuredContent.sender</c>, <c>isError</c>).</para>
///
/// <para><b>Conditions.</b> A condition matches when ANY value its path reaches satisfies the operator
/// (with <c>[*]</c>, any element; with duplicate property names, either). A path that reaches no value does
/// not match, for every operator including <c>notEqual</c> and <c>notContains</c>. Objects and arrays never
/// match as values. Scalars compare as text: strings by their unescaped value, numbers by their JSON text as
/// written (<c>10</c>, <c>1.5e3</c>), <c>true</c>, <c>false</c>, <c>null</c>. Operators: <c>equal</c>,
/// <c>notEqual</c>, <c>contains</c>, <c>notContains</c>, <c>startsWith</c>, <c>endsWith</c> (ordinal,
/// case-sensitive) and <c>regex</c> (<see cref="Regex.IsMatch(ReadOnlySpan{char})"/> with
/// <see cref="RegexOptions.NonBacktracking"/> | <see cref="RegexOptions.CultureInvariant"/>, so unanchored
/// unless the pattern anchors itself). A policy matches when ALL its conditions match; a policy without
/// conditions always matches.</para>
///
/// <para><b>Invocation precedence</b> (the first step that applies decides; within a step the first
/// matching policy in definition order wins and is the decision's <c>PolicyId</c>):
/// 1. a matching <c>block_always</c> → Block (any context);
/// 2. if the context is untrusted, a matching <c>block_when_context_is_untrusted</c> → Block;
/// 3. a matching <c>require_approval</c> → RequireApproval (any context; the caller asks a human, and
///    approval means proceed);
/// 4. the context is trusted → Allow (source TrustedContext);
/// 5. a matching <c>allow_when_context_is_untrusted</c> → Allow (source Policy);
/// 6. the tool's default: <c>AllowUsageWhenUntrustedDataIsPresent</c> → Allow, else Block (source Default).</para>
///
/// <para><b>Result precedence:</b> 1. <c>block_always</c> → Block; 2. <c>mark_as_untrusted</c> → Untrusted;
/// 3. <c>sanitize_with_dual_llm</c> → SanitizeWithDualLlm; 4. <c>mark_as_trusted</c> → Trusted; 5. the tool's
/// default <c>ResultTreatment</c> (Untrusted unless configured), source Default. Untrusted and
/// SanitizeWithDualLlm taint the receiving context (<see cref="ContextTrust"/>): once untrusted it stays so.</para>
///
/// <para><b>Documents.</b> Empty arguments (absent) are <c>{}</c>. A tool with no policy that can decide in
/// this case (for a result: any trusted-data policy of the tool; for a call in a trusted context: a
/// <c>block_always</c> or <c>require_approval</c> policy; in an untrusted context: any tool-invocation policy
/// of the tool) is decided without reading the document. Otherwise the document is read in full and must be
/// valid JSON (at most 64 levels deep, strings that a condition reads must unescape to valid UTF-16): if it
/// is not, fail closed: an invocation is Block (source Default, "the arguments are not valid JSON") and a
/// result is Untrusted (source Default).</para>
/// </remarks>
public static class PolicyCompiler
{
    private const string InvocationActions = "allow_when_context_is_untrusted, block_when_context_is_untrusted, block_always, require_approval";

    private const string DataActions = "mark_as_trusted, mark_as_untrusted, block_always, sanitize_with_dual_llm";

    private const string Operators = "equal, notEqual, contains, notContains, startsWith, endsWith, regex";

    private const RegexOptions RegexFlags = RegexOptions.NonBacktracking | RegexOptions.CultureInvariant;

    /// <summary>Compiles everything, or returns every error and no snapshot.</summary>
    public static PolicyCompileResult Compile(PolicySetDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        var errors = new List<PolicyError>();
        var profiles = ValidateProfiles(definition.Profiles ?? [], errors);
        var regexes = new Dictionary<string, Regex>(StringComparer.Ordinal);
        var ids = new Dictionary<string, string>(StringComparer.Ordinal);
        var invocation = ValidatePolicies(definition.ToolInvocation ?? [], "toolInvocation", isInvocation: true, profiles, ids, regexes, errors);
        var data = ValidatePolicies(definition.TrustedData ?? [], "trustedData", isInvocation: false, profiles, ids, regexes, errors);
        if (errors.Count > 0)
        {
            return new PolicyCompileResult(null, errors);
        }

        var programs = new Dictionary<string, RuleProgram>(StringComparer.Ordinal);
        var compiled = new Dictionary<string, ProfilePolicies>(StringComparer.Ordinal);
        foreach (var profile in profiles.Values)
        {
            compiled[profile.Name] = BuildProfile(profile, invocation, data, programs);
        }

        return new PolicyCompileResult(new PolicySnapshot(compiled.ToFrozenDictionary(StringComparer.Ordinal), invocation.Count + data.Count), []);
    }

    private static ProfilePolicies BuildProfile(
        ProfileInfo profile,
        List<ValidPolicy> invocation,
        List<ValidPolicy> data,
        Dictionary<string, RuleProgram> programs
    )
    {
        var byTool = new Dictionary<string, (List<ValidPolicy> Invocation, List<ValidPolicy> Data)>(StringComparer.Ordinal);
        foreach (var (list, isInvocation) in new[] { (invocation, true), (data, false) })
        {
            foreach (var policy in list)
            {
                if (!AppliesTo(policy, profile))
                {
                    continue;
                }

                if (!byTool.TryGetValue(policy.Tool, out var lists))
                {
                    lists = ([], []);
                    byTool[policy.Tool] = lists;
                }

                (isInvocation ? lists.Invocation : lists.Data).Add(policy);
            }
        }

        // Wildcard settings: "{server}__*" for a server's tools and "*" for the profile's; the most specific applies.
        var tools = new Dictionary<string, CompiledTool>(StringComparer.Ordinal);
        var serverDefaults = new Dictionary<string, CompiledTool>(StringComparer.Ordinal);
        CompiledTool? profileDefault = null;
        foreach (var (tool, settings) in profile.Settings)
        {
            if (tool == ProfileWildcard)
            {
                profileDefault = new CompiledTool(settings, null, null);
            }
            else if (tool.EndsWith(ServerWildcardSuffix, StringComparison.Ordinal))
            {
                serverDefaults[ServerOf(tool)] = new CompiledTool(settings, null, null);
            }
            else if (!byTool.ContainsKey(tool))
            {
                tools[tool] = new CompiledTool(settings, null, null);
            }
        }

        foreach (var (tool, lists) in byTool)
        {
            var settings = profile.Settings.GetValueOrDefault(tool)
                ?? serverDefaults.GetValueOrDefault(ServerOf(tool))?.Settings
                ?? profileDefault?.Settings
                ?? new ToolSettings();
            tools[tool] = new CompiledTool(settings, Program(lists.Invocation, 'i', programs), Program(lists.Data, 'd', programs));
        }

        return new ProfilePolicies(tools.ToFrozenDictionary(StringComparer.Ordinal), serverDefaults.ToFrozenDictionary(StringComparer.Ordinal), profileDefault);
    }

    private const string ProfileWildcard = "*";
    private const string ServerWildcardSuffix = "__*";

    private static bool AppliesTo(ValidPolicy policy, ProfileInfo profile) =>
        policy.Profiles.Count == 0 ? profile.AgentTools || profile.Servers.Contains(policy.Server) : policy.Profiles.Contains(profile.Name);

    /// <summary>
    /// A name an agent may give its own tool: anything but a built-in, a wildcard or empty. Agents name their tools
    /// freely (<c>get_weather</c>), and the LLM proxy sees MCP tools under their namespaced names as well.
    /// </summary>
    private static bool IsAgentToolName(string tool) =>
        tool.Length > 0 && !tool.Contains('*', StringComparison.Ordinal) && !tool.StartsWith(ProfilePolicies.BuiltInPrefix, StringComparison.Ordinal);

    /// <summary>Whether a policy may name an agent's tool: it applies to (or, naming none, may reach) a profile with agent tools.</summary>
    private static bool AgentToolsAllowed(Dictionary<string, ProfileInfo> profiles, IReadOnlyList<string> named)
    {
        if (named.Count == 0)
        {
            return AnyAgentToolsProfile(profiles);
        }

        foreach (var name in named)
        {
            if (name is not null && profiles.TryGetValue(name, out var profile) && profile.AgentTools)
            {
                return true;
            }
        }

        return false;
    }

    private static bool AnyAgentToolsProfile(Dictionary<string, ProfileInfo> profiles)
    {
        foreach (var profile in profiles.Values)
        {
            if (profile.AgentTools)
            {
                return true;
            }
        }

        return false;
    }

    private static string AgentToolHint(string error, string tool, Dictionary<string, ProfileInfo> profiles) =>
        IsAgentToolName(tool) && !tool.Contains("__", StringComparison.Ordinal) && !AnyAgentToolsProfile(profiles)
            ? error + " (the names of agents' own tools are accepted only when a profile has an llm section)"
            : error;

    /// <summary>Profiles that share a tool's policy list share its program (keyed by list and policy ids).</summary>
    private static RuleProgram? Program(List<ValidPolicy> policies, char list, Dictionary<string, RuleProgram> programs)
    {
        if (policies.Count == 0)
        {
            return null;
        }

        var key = new StringBuilder().Append(list);
        foreach (var policy in policies)
        {
            key.Append('\n').Append(policy.Id);
        }

        var cacheKey = key.ToString();
        if (programs.TryGetValue(cacheKey, out var cached))
        {
            return cached;
        }

        // Stable by precedence: definition order is kept within a class.
        var ordered = new List<ValidPolicy>(policies.Count);
        for (var precedence = 0; precedence <= 3; precedence++)
        {
            foreach (var policy in policies)
            {
                if (policy.Precedence == precedence)
                {
                    ordered.Add(policy);
                }
            }
        }

        var automaton = new PathAutomatonBuilder();
        var conditions = new List<CompiledCondition>();
        var rules = new CompiledRule[ordered.Count];
        for (var r = 0; r < ordered.Count; r++)
        {
            var policy = ordered[r];
            rules[r] = new CompiledRule(policy.Precedence, conditions.Count, policy.Conditions.Count, policy.Id, policy.Reason);
            foreach (var (path, condition) in policy.Conditions)
            {
                automaton.Add(path, conditions.Count);
                conditions.Add(condition);
            }
        }

        var trustedRelevant = new bool[conditions.Count];
        foreach (var rule in rules)
        {
            if ((Precedence.TrustedInvocationMask & (1 << rule.Precedence)) != 0)
            {
                trustedRelevant.AsSpan(rule.ConditionStart, rule.ConditionCount).Fill(true);
            }
        }

        var program = new RuleProgram(automaton.Build(trustedRelevant), [.. conditions], rules);
        programs[cacheKey] = program;
        return program;
    }

    private static Dictionary<string, ProfileInfo> ValidateProfiles(IReadOnlyList<ProfilePolicyInput> inputs, List<PolicyError> errors)
    {
        var profiles = new Dictionary<string, ProfileInfo>(StringComparer.Ordinal);
        for (var i = 0; i < inputs.Count; i++)
        {
            var input = inputs[i];
            if (input is null || string.IsNullOrEmpty(input.Profile))
            {
                errors.Add(new PolicyError($"profiles[{i}]", "profile", "the profile name is empty"));
                continue;
            }

            var subject = $"profile \"{input.Profile}\"";
            if (profiles.ContainsKey(input.Profile))
            {
                errors.Add(new PolicyError(subject, "profile", $"duplicate profile \"{input.Profile}\""));
                continue;
            }

            var servers = new HashSet<string>(input.Servers ?? [], StringComparer.Ordinal);
            var settings = new Dictionary<string, ToolSettings>(StringComparer.Ordinal);
            foreach (var (tool, setting) in input.Tools ?? new Dictionary<string, ToolSettings>())
            {
                var field = $"tools[\"{tool}\"]";
                if (tool == ProfileWildcard)
                {
                    if (setting is not null)
                    {
                        settings[tool] = setting;
                    }
                }
                else if (
                    input.AgentTools
                    && setting is not null
                    && (IsAgentToolName(tool) || (tool.EndsWith(ServerWildcardSuffix, StringComparison.Ordinal) && ToolError(tool) is null))
                )
                {
                    settings[tool] = setting;
                }
                else if (ToolError(tool) is { } toolError)
                {
                    errors.Add(new PolicyError(subject, field, toolError));
                }
                else if (!servers.Contains(ServerOf(tool)))
                {
                    errors.Add(new PolicyError(subject, field, $"server \"{ServerOf(tool)}\" is not exposed by profile \"{input.Profile}\""));
                }
                else if (setting is null)
                {
                    errors.Add(new PolicyError(subject, field, "the settings are missing"));
                }
                else
                {
                    settings[tool] = setting;
                }
            }

            profiles[input.Profile] = new ProfileInfo(input.Profile, servers, settings, input.AgentTools);
        }

        return profiles;
    }

    private static List<ValidPolicy> ValidatePolicies(
        IReadOnlyList<PolicyDefinition> definitions,
        string listName,
        bool isInvocation,
        Dictionary<string, ProfileInfo> profiles,
        Dictionary<string, string> ids,
        Dictionary<string, Regex> regexes,
        List<PolicyError> errors
    )
    {
        var valid = new List<ValidPolicy>(definitions.Count);
        var path = new List<PathSegment>();
        for (var i = 0; i < definitions.Count; i++)
        {
            var policy = definitions[i];
            var position = $"{listName}[{i}]";
            if (policy is null)
            {
                errors.Add(new PolicyError(position, "", "the policy is missing"));
                continue;
            }

            var before = errors.Count;
            var subject = string.IsNullOrEmpty(policy.Id) ? position : $"policy \"{policy.Id}\"";
            if (string.IsNullOrEmpty(policy.Id))
            {
                errors.Add(new PolicyError(subject, "id", "the id is empty"));
            }
            else if (!ids.TryAdd(policy.Id, position))
            {
                errors.Add(new PolicyError(subject, "id", $"duplicate id \"{policy.Id}\"; already used by {ids[policy.Id]}"));
            }

            var tool = policy.Tool ?? "";
            var server = "";
            var named = policy.Profiles ?? [];
            var agentTool = IsAgentToolName(tool) && AgentToolsAllowed(profiles, named);
            if (ToolError(tool) is { } toolError && !agentTool)
            {
                errors.Add(new PolicyError(subject, "tool", AgentToolHint(toolError, tool, profiles)));
            }
            else if (tool.EndsWith(ServerWildcardSuffix, StringComparison.Ordinal))
            {
                errors.Add(new PolicyError(subject, "tool", $"\"{tool}\": a policy names one tool; wildcards are only for tool settings"));
            }
            else
            {
                server = ServerOf(tool);
            }

            var targets = new List<string>();
            for (var p = 0; p < named.Count; p++)
            {
                var name = named[p] ?? "";
                if (!profiles.TryGetValue(name, out var profile))
                {
                    errors.Add(new PolicyError(subject, $"profiles[{p}]", $"unknown profile \"{name}\""));
                }
                else if (server.Length > 0 && !profile.Servers.Contains(server) && !profile.AgentTools)
                {
                    errors.Add(new PolicyError(subject, $"profiles[{p}]", $"profile \"{name}\" does not expose server \"{server}\""));
                }
                else if (!targets.Contains(name))
                {
                    targets.Add(name);
                }
            }

            if (named.Count == 0 && server.Length > 0 && !AnyProfileExposes(profiles, server) && !AnyAgentToolsProfile(profiles))
            {
                errors.Add(new PolicyError(subject, "tool", $"unknown server \"{server}\": no profile exposes it"));
            }

            var precedence = isInvocation ? InvocationPrecedence(policy.Action) : DataPrecedence(policy.Action);
            if (precedence < 0)
            {
                errors.Add(
                    new PolicyError(
                        subject,
                        "action",
                        $"unknown action \"{policy.Action}\"; expected one of {(isInvocation ? InvocationActions : DataActions)}"
                    )
                );
            }

            var conditions = new List<(List<PathSegment>, CompiledCondition)>();
            var definedConditions = policy.Conditions ?? [];
            for (var c = 0; c < definedConditions.Count; c++)
            {
                if (CompileCondition(definedConditions[c], $"conditions[{c}]", subject, path, regexes, errors) is { } condition)
                {
                    conditions.Add((new List<PathSegment>(path), condition));
                }
            }

            if (errors.Count == before)
            {
                var reason = string.IsNullOrEmpty(policy.Reason) ? $"policy {policy.Id} matched" : policy.Reason;
                valid.Add(new ValidPolicy(policy.Id, tool, server, precedence, reason, conditions, targets));
            }
        }

        return valid;
    }

    private static CompiledCondition? CompileCondition(
        PolicyCondition? condition,
        string field,
        string subject,
        List<PathSegment> path,
        Dictionary<string, Regex> regexes,
        List<PolicyError> errors
    )
    {
        if (condition is null)
        {
            errors.Add(new PolicyError(subject, field, "the condition is missing"));
            return null;
        }

        var ok = true;
        if (!KeyPath.TryParse(condition.Key ?? "", path, out var pathError))
        {
            errors.Add(new PolicyError(subject, $"{field}.key", $"invalid key path \"{condition.Key}\": {pathError}"));
            ok = false;
        }

        var op = ParseOperator(condition.Operator);
        if (op is null)
        {
            errors.Add(new PolicyError(subject, $"{field}.operator", $"unknown operator \"{condition.Operator}\"; expected one of {Operators}"));
            ok = false;
        }

        if (condition.Value is null)
        {
            errors.Add(new PolicyError(subject, $"{field}.value", "the value is missing"));
            return null;
        }

        Regex? regex = null;
        if (op == ConditionOperator.Regex && !regexes.TryGetValue(condition.Value, out regex))
        {
            try
            {
                regex = new Regex(condition.Value, RegexFlags);
                regexes[condition.Value] = regex;
            }
            // Messages of our own: the exceptions' texts are bare resource keys in the trimmed AOT binary.
            catch (NotSupportedException)
            {
                errors.Add(
                    new PolicyError(
                        subject,
                        $"{field}.value",
                        $"regex \"{condition.Value}\" uses a construct the non-backtracking engine cannot run (backreferences, "
                            + "lookarounds, atomic groups, conditionals); rewrite it without them"
                    )
                );
                ok = false;
            }
            catch (RegexParseException e)
            {
                errors.Add(new PolicyError(subject, $"{field}.value", $"invalid regex \"{condition.Value}\": {Describe(e.Error)} at offset {e.Offset}"));
                ok = false;
            }
            catch (ArgumentException)
            {
                errors.Add(new PolicyError(subject, $"{field}.value", $"invalid regex \"{condition.Value}\""));
                ok = false;
            }
        }

        return ok ? new CompiledCondition(op!.Value, Encoding.UTF8.GetBytes(condition.Value), regex) : null;
    }

    /// <summary>"UnterminatedBracket" → "unterminated bracket".</summary>
    private static string Describe(RegexParseError error)
    {
        var name = error.ToString();
        var text = new StringBuilder(name.Length + 8);
        foreach (var c in name)
        {
            if (char.IsUpper(c) && text.Length > 0)
            {
                text.Append(' ');
            }

            text.Append(char.ToLowerInvariant(c));
        }

        return text.ToString();
    }

    private static ConditionOperator? ParseOperator(string? name) =>
        name switch
        {
            "equal" => ConditionOperator.Equal,
            "notEqual" => ConditionOperator.NotEqual,
            "contains" => ConditionOperator.Contains,
            "notContains" => ConditionOperator.NotContains,
            "startsWith" => ConditionOperator.StartsWith,
            "endsWith" => ConditionOperator.EndsWith,
            "regex" => ConditionOperator.Regex,
            _ => null,
        };

    private static int InvocationPrecedence(string? action) =>
        action switch
        {
            "block_always" => Precedence.BlockAlways,
            "block_when_context_is_untrusted" => Precedence.BlockWhenUntrusted,
            "require_approval" => Precedence.RequireApproval,
            "allow_when_context_is_untrusted" => Precedence.AllowWhenUntrusted,
            _ => -1,
        };

    private static int DataPrecedence(string? action) =>
        action switch
        {
            "block_always" => Precedence.BlockAlways,
            "mark_as_untrusted" => Precedence.MarkUntrusted,
            "sanitize_with_dual_llm" => Precedence.Sanitize,
            "mark_as_trusted" => Precedence.MarkTrusted,
            _ => -1,
        };

    private static string? ToolError(string tool)
    {
        if (tool.StartsWith(ProfilePolicies.BuiltInPrefix, StringComparison.Ordinal))
        {
            return $"\"{tool}\" is an Archestra built-in tool: always allowed and trusted, it takes no policies or settings";
        }

        var separator = tool.IndexOf("__", StringComparison.Ordinal);
        return separator <= 0 || separator + 2 == tool.Length ? $"\"{tool}\" is not of the form {{server}}__{{tool}}" : null;
    }

    /// <summary>The server part of a namespaced tool; "" for an agent's own tool without one.</summary>
    private static string ServerOf(string tool)
    {
        var separator = tool.IndexOf("__", StringComparison.Ordinal);
        return separator > 0 ? tool[..separator] : "";
    }

    private static bool AnyProfileExposes(Dictionary<string, ProfileInfo> profiles, string server)
    {
        foreach (var profile in profiles.Values)
        {
            if (profile.Servers.Contains(server))
            {
                return true;
            }
        }

        return false;
    }

    private sealed record ProfileInfo(string Name, HashSet<string> Servers, Dictionary<string, ToolSettings> Settings, bool AgentTools);

    private sealed record ValidPolicy(
        string Id,
        string Tool,
        string Server,
        int Precedence,
        string Reason,
        List<(List<PathSegment> Path, CompiledCondition Condition)> Conditions,
        List<string> Profiles
    );
}
