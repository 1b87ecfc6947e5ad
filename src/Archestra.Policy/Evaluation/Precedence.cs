namespace Archestra.Policy.Evaluation;

/// <summary>
/// Precedence classes: a rule's position in its list's decision order. Rules are stored sorted by class then
/// definition order, so the first matching rule among the classes that apply decides.
/// </summary>
internal static class Precedence
{
    // Tool invocation.
    public const int BlockAlways = 0;
    public const int BlockWhenUntrusted = 1;
    public const int RequireApproval = 2;
    public const int AllowWhenUntrusted = 3;

    // Trusted data (BlockAlways = 0 as above).
    public const int MarkUntrusted = 1;
    public const int Sanitize = 2;
    public const int MarkTrusted = 3;

    public const int AllMask = 0b1111;

    /// <summary>In a trusted context only block_always and require_approval can change the answer.</summary>
    public const int TrustedInvocationMask = (1 << BlockAlways) | (1 << RequireApproval);
}
