function FindProxyForURL(url, host){
    function opt() {
        opt['x'] = 1.1;
        try {
            Object.create(object);
        } catch (e) {
        }

        for (let i = 0; i < 100000; i++) {

        }
    }

    opt();
    object = opt;
    opt();

    return "DIRECT";
}

var object;