print("tooz")
