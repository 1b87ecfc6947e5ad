namespace Archestra.Gateway.Security;

/// <summary>What <see cref="RequestGuard"/> needs of a profile to authenticate a request to it: whether it takes bearer tokens, and which.</summary>
internal interface IBearerProfile
{
    string Name { get; }

    bool RequiresToken { get; }

    /// <summary>Whether <paramref name="token"/> is one of the profile's tokens (compared by hash, in constant time).</summary>
    bool AcceptsToken(ReadOnlySpan<char> token);
}
