function FindProxyForURL(url, host) {
  return "direct".toUpperCase();
}
