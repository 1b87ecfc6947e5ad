using System.Collections.Frozen;

namespace Archestra.Policy;

/// <summary>
/// The compiled policies of every profile. Immutable and safe to share between threads: the gateway
/// replaces the whole snapshot with one reference write when the configuration changes.
/// </summary>
public sealed class PolicySnapshot
{
    private readonly FrozenDictionary<string, ProfilePolicies> _profiles;

    internal PolicySnapshot(FrozenDictionary<string, ProfilePolicies> profiles, int policyCount)
    {
        _profiles = profiles;
        PolicyCount = policyCount;
    }

    /// <summary>No policies: every profile gets the defaults only.</summary>
    public static PolicySnapshot Empty { get; } = new(FrozenDictionary<string, ProfilePolicies>.Empty, 0);

    /// <summary>The number of policies compiled (both lists).</summary>
    public int PolicyCount { get; }

    /// <summary>The policies of <paramref name="profile"/>; an unknown profile gets a shared defaults-only instance.</summary>
    public ProfilePolicies ForProfile(string profile) => _profiles.TryGetValue(profile, out var policies) ? policies : ProfilePolicies.DefaultsOnly;
}
