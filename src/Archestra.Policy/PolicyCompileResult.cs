using System.Diagnostics.CodeAnalysis;

namespace Archestra.Policy;

/// <summary>What <see cref="PolicyCompiler.Compile"/> produced: a snapshot, or every error and no snapshot.</summary>
public sealed class PolicyCompileResult
{
    internal PolicyCompileResult(PolicySnapshot? snapshot, IReadOnlyList<PolicyError> errors)
    {
        Snapshot = snapshot;
        Errors = errors;
    }

    /// <summary>The compiled policies; null exactly when <see cref="Errors"/> is not empty.</summary>
    public PolicySnapshot? Snapshot { get; }

    /// <summary>Every error found, in definition order (profiles, then tool-invocation, then trusted-data policies).</summary>
    public IReadOnlyList<PolicyError> Errors { get; }

    [MemberNotNullWhen(true, nameof(Snapshot))]
    public bool Succeeded => Snapshot is not null;
}
