function FindProxyForURL(url, host){
    var x = new ArrayBuffer(1);
    return "DIRECT";
}
