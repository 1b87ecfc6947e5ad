namespace Archestra.Policy.Evaluation;

/// <summary>
/// One state of a tool's path automaton: the set of key-path trie nodes that the reader's current position
/// reaches, determinised at compile time so that <c>[*]</c> and <c>[N]</c> on the same array cost one
/// transition at run time. State 0 is the document root; -1 means no path continues here (skip the value).
/// </summary>
internal sealed class PathState
{
    /// <summary>Conditions whose key path ends here, evaluated against each scalar value at this position.</summary>
    public required int[] Conditions { get; init; }

    /// <summary>The subset of <see cref="Conditions"/> that can decide in a trusted context (block_always, require_approval rules).</summary>
    public required int[] TrustedConditions { get; init; }

    /// <summary>Property names (UTF-8, unescaped) with <see cref="PropertyTargets"/> at the same index.</summary>
    public required byte[][] PropertyNames { get; init; }

    public required int[] PropertyTargets { get; init; }

    /// <summary>Explicit array indexes (<c>[N]</c>) with <see cref="IndexTargets"/> at the same index.</summary>
    public required int[] Indexes { get; init; }

    public required int[] IndexTargets { get; init; }

    /// <summary>Where any other array element goes (<c>[*]</c>), or -1.</summary>
    public required int AnyIndexTarget { get; init; }

    public bool EntersObjects => PropertyNames.Length > 0;

    public bool EntersArrays => AnyIndexTarget >= 0 || Indexes.Length > 0;

    public int Property(ReadOnlySpan<byte> name)
    {
        var names = PropertyNames;
        for (var i = 0; i < names.Length; i++)
        {
            if (name.SequenceEqual(names[i]))
            {
                return PropertyTargets[i];
            }
        }

        return -1;
    }

    public int Element(int index)
    {
        var indexes = Indexes;
        for (var i = 0; i < indexes.Length; i++)
        {
            if (indexes[i] == index)
            {
                return IndexTargets[i];
            }
        }

        return AnyIndexTarget;
    }
}
