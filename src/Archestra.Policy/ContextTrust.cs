namespace Archestra.Policy;

/// <summary>
/// The trust of one context (an MCP session, an LLM conversation): trusted until a result taints it, then
/// untrusted for good. Thread-safe and allocation-free: one volatile flag that only ever goes from 0 to 1.
/// </summary>
public sealed class ContextTrust
{
    private volatile int _untrusted;

    public bool IsTrusted => _untrusted == 0;

    /// <summary>Records a result the context received: one that <see cref="ResultDecision.TaintsContext"/> makes it untrusted.</summary>
    public void Observe(in ResultDecision decision)
    {
        if (decision.TaintsContext)
        {
            _untrusted = 1;
        }
    }

    public void MarkUntrusted() => _untrusted = 1;
}
