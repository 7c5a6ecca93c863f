using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Gatehouse.Hosting;

/// <summary>What the HTTP port serves until the API project takes it over: the health endpoint.</summary>
internal static class HttpEndpoints
{
    public static void MapHealth(IEndpointRouteBuilder endpoints) => endpoints.MapGet("/healthz", (RequestDelegate)HealthAsync);

    private static Task HealthAsync(HttpContext context)
    {
        context.Response.ContentType = "application/json";
        context.Response.Headers.CacheControl = "no-store";
        return context.Response.WriteAsync("{\"status\":\"ok\"}");
    }
}
