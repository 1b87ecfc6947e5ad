using System.Collections.Frozen;

namespace Archestra.Policy.Llm;

/// <summary>
/// When a rule applies. Every condition that is set must hold; an unset condition matches anything.
/// <paramref name="RequestedModel"/> is an exact model id or a glob where <c>*</c> matches any run of characters
/// (ordinal, case-sensitive): <c>gpt-4o*</c>, <c>claude-*-4-5*</c>.
/// </summary>
public sealed record RuleConditions(long? MaxInputTokens = null, long? MaxInputChars = null, bool? HasTools = null, string? RequestedModel = null);

/// <summary>
/// An optimization rule: requests of <paramref name="Profile"/> (null: every profile) that meet the conditions go to <paramref
/// name="TargetModel"/>.
/// </summary>
public sealed record OptimizationRuleDefinition(string Id, string? Profile, RuleConditions Conditions, string TargetModel, bool Enabled = true);

/// <summary>
/// What the proxy knows about a request before forwarding it. <paramref name="InputTokens"/> is an exact count when
/// one is known; otherwise rules compare <see cref="TokenEstimate.FromChars(long)"/> of <paramref name="InputChars"/>.
/// </summary>
public readonly record struct RequestFacts(string RequestedModel, long InputChars, bool HasTools, long? InputTokens = null)
{
    public long EffectiveInputTokens => InputTokens ?? TokenEstimate.FromChars(InputChars);
}

/// <summary>
/// Compiled optimization rules. For a profile, the candidates are its own rules and the global rules (no profile),
/// kept in definition order; the first enabled rule whose conditions all hold wins. Disabled rules are dropped at
/// compile time.
/// </summary>
public sealed class OptimizationRules
{
    private readonly FrozenDictionary<string, CompiledRule[]> _byProfile;
    private readonly CompiledRule[] _global;

    private OptimizationRules(FrozenDictionary<string, CompiledRule[]> byProfile, CompiledRule[] global)
    {
        _byProfile = byProfile;
        _global = global;
    }

    public static OptimizationRules Empty { get; } = Create([]);

    public static OptimizationRules Create(IEnumerable<OptimizationRuleDefinition> definitions)
    {
        ArgumentNullException.ThrowIfNull(definitions);
        var all = new List<CompiledRule>();
        var profiles = new HashSet<string>(StringComparer.Ordinal);
        foreach (var rule in definitions)
        {
            if (string.IsNullOrEmpty(rule.TargetModel))
            {
                throw new ArgumentException($"rule '{rule.Id}' has no target model", nameof(definitions));
            }

            var c = rule.Conditions ?? new RuleConditions();
            if (c.MaxInputTokens < 0 || c.MaxInputChars < 0 || c.RequestedModel?.Length == 0)
            {
                throw new ArgumentException($"rule '{rule.Id}' has an invalid condition", nameof(definitions));
            }

            if (!rule.Enabled)
            {
                continue;
            }

            all.Add(new CompiledRule(rule, c, c.RequestedModel is { } pattern ? Glob.Compile(pattern) : null));
            if (rule.Profile is { } profile)
            {
                profiles.Add(profile);
            }
        }

        var global = all.Where(r => r.Definition.Profile is null).ToArray();
        var byProfile = profiles.ToFrozenDictionary(
            p => p,
            p => all.Where(r => r.Definition.Profile is null || r.Definition.Profile == p).ToArray(),
            StringComparer.Ordinal
        );
        return new OptimizationRules(byProfile, global);
    }

    /// <summary>The target model of the first matching rule, or null to keep the requested model.</summary>
    public string? Choose(string profile, in RequestFacts facts) => Choose(profile, facts, out _);

    /// <summary>As <see cref="Choose(string, in RequestFacts)"/>, also giving the id of the rule that matched, for the record.</summary>
    public string? Choose(string profile, in RequestFacts facts, out string? ruleId)
    {
        var rules = _byProfile.TryGetValue(profile, out var own) ? own : _global;
        foreach (var rule in rules)
        {
            if (rule.Matches(facts))
            {
                ruleId = rule.Definition.Id;
                return rule.Definition.TargetModel;
            }
        }

        ruleId = null;
        return null;
    }

    private sealed class CompiledRule(OptimizationRuleDefinition definition, RuleConditions conditions, Glob? model)
    {
        public OptimizationRuleDefinition Definition { get; } = definition;

        public bool Matches(in RequestFacts facts) =>
            (conditions.HasTools is not { } tools || tools == facts.HasTools)
            && (conditions.MaxInputChars is not { } maxChars || facts.InputChars <= maxChars)
            && (conditions.MaxInputTokens is not { } maxTokens || facts.EffectiveInputTokens <= maxTokens)
            && (model is null || model.IsMatch(facts.RequestedModel));
    }
}

/// <summary>A <c>*</c>-only glob, split once into literal parts; matching is a greedy left-to-right scan, no regex.</summary>
internal sealed class Glob
{
    private readonly string[] _parts;
    private readonly bool _exact;

    private Glob(string[] parts, bool exact)
    {
        _parts = parts;
        _exact = exact;
    }

    public static Glob Compile(string pattern) =>
        pattern.Contains('*', StringComparison.Ordinal) ? new Glob(pattern.Split('*'), exact: false) : new Glob([pattern], exact: true);

    public bool IsMatch(ReadOnlySpan<char> text)
    {
        if (_exact)
        {
            return text.SequenceEqual(_parts[0]);
        }

        // parts[0] is anchored at the start, parts[^1] at the end, the middle ones are found in order in between.
        var first = _parts[0];
        var last = _parts[^1];
        if (text.Length < first.Length + last.Length || !text.StartsWith(first, StringComparison.Ordinal) || !text.EndsWith(last, StringComparison.Ordinal))
        {
            return false;
        }

        var middle = text[first.Length..(text.Length - last.Length)];
        for (var i = 1; i < _parts.Length - 1; i++)
        {
            var at = middle.IndexOf(_parts[i], StringComparison.Ordinal);
            if (at < 0)
            {
                return false;
            }

            middle = middle[(at + _parts[i].Length)..];
        }

        return true;
    }
}
