function FindProxyForURL(url, host) {
  return "";
}

