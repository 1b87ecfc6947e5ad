namespace Archestra.Runtime.Protocol;

/// <summary>MCP method names as UTF-8, compared against the raw envelope: the one list the gateway's endpoint and its upstream clients both use.</summary>
public static class McpMethods
{
    public static ReadOnlySpan<byte> Initialize => "initialize"u8;
    public static ReadOnlySpan<byte> ServerDiscover => "server/discover"u8;
    public static ReadOnlySpan<byte> SubscriptionsListen => "subscriptions/listen"u8;
    public static ReadOnlySpan<byte> Ping => "ping"u8;
    public static ReadOnlySpan<byte> ToolsList => "tools/list"u8;
    public static ReadOnlySpan<byte> ToolsCall => "tools/call"u8;
    public static ReadOnlySpan<byte> PromptsList => "prompts/list"u8;
    public static ReadOnlySpan<byte> PromptsGet => "prompts/get"u8;
    public static ReadOnlySpan<byte> ResourcesList => "resources/list"u8;
    public static ReadOnlySpan<byte> ResourceTemplatesList => "resources/templates/list"u8;
    public static ReadOnlySpan<byte> ResourcesRead => "resources/read"u8;
    public static ReadOnlySpan<byte> ResourcesSubscribe => "resources/subscribe"u8;
    public static ReadOnlySpan<byte> ResourcesUnsubscribe => "resources/unsubscribe"u8;
    public static ReadOnlySpan<byte> CompletionComplete => "completion/complete"u8;
    public static ReadOnlySpan<byte> LoggingSetLevel => "logging/setLevel"u8;
    public static ReadOnlySpan<byte> Initialized => "notifications/initialized"u8;
    public static ReadOnlySpan<byte> Cancelled => "notifications/cancelled"u8;
    public static ReadOnlySpan<byte> Progress => "notifications/progress"u8;
    public static ReadOnlySpan<byte> Message => "notifications/message"u8;
    public static ReadOnlySpan<byte> RootsListChanged => "notifications/roots/list_changed"u8;
    public static ReadOnlySpan<byte> ToolsListChanged => "notifications/tools/list_changed"u8;
    public static ReadOnlySpan<byte> PromptsListChanged => "notifications/prompts/list_changed"u8;
    public static ReadOnlySpan<byte> ResourcesListChanged => "notifications/resources/list_changed"u8;
    public static ReadOnlySpan<byte> ResourcesUpdated => "notifications/resources/updated"u8;
}
